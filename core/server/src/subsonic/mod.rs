//! The OpenSubsonic REST API: `/rest/<method>` and `/rest/<method>.view`, GET or POST form,
//! answered in XML (default), JSON or JSONP. A third transport next to Socket.IO and the HTTP
//! routes, built on the same stores and rules (playlist access, stream URLs, variants, the
//! login throttle).
//! Invariant: the account password is never accepted here, only per-app credentials
//! (`app_keys.rs`); every request reads the account as stored now, so revocation, a password
//! change, a reset or a deletion takes effect on the next request.

mod browse;
pub mod error;
mod lists;
pub mod media;
pub mod params;
mod playlists;
pub mod response;
mod system;
pub mod user_data;
pub mod views;

use poem::web::{Data, Path};
use poem::{Body, Request, Response as HttpResponse, handler};

use crate::app::App;
use crate::store::app_keys::{same_text, subsonic_token};
use crate::store::users::User;
use error::SubError;
use params::{Credentials, MAX_FORM_BYTES, Params};
use response::{Format, Response};

/// What a method answers: a Subsonic document, or raw bytes (stream, cover art, download).
pub enum Reply {
    Doc(Response),
    Raw(HttpResponse),
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Self::Doc(r)
    }
}

pub type MethodResult = Result<Reply, SubError>;

/// Everything a method gets: the app, the signed-in user, the parameters and the request.
pub struct Call<'a> {
    pub app: &'a App,
    pub user: User,
    pub params: Params,
    pub req: &'a Request,
}

impl Call<'_> {
    pub fn actor(&self) -> crate::store::playlists::Actor {
        crate::store::playlists::Actor::from(&self.user)
    }

    /// The user's stars and ratings, read once for the answer being built.
    pub fn marks(&self) -> Result<views::MarkBook, SubError> {
        Ok(views::MarkBook::load(&self.app.favourites, &self.user.id)?)
    }
}

fn render(format: &Format, doc: &Response, throttled: Option<u64>) -> HttpResponse {
    let mut resp = HttpResponse::builder()
        .content_type(format.content_type())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(doc.encode(format));
    if let Some(secs) = throttled {
        resp.set_status(http::StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    resp
}

fn fail(format: &Format, e: &SubError) -> HttpResponse {
    render(
        format,
        &Response::failed(e.code, &e.message),
        e.retry_after_secs,
    )
}

/// `GET|POST /rest/<method>[.view]`.
#[handler]
pub async fn endpoint(
    req: &Request,
    Path(method): Path<String>,
    Data(app): Data<&App>,
    body: Body,
) -> HttpResponse {
    let method = method.strip_suffix(".view").unwrap_or(&method).to_string();
    let query = req.uri().query().unwrap_or("");
    let is_form = req
        .content_type()
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let form = if req.method() == http::Method::POST && is_form {
        match body.into_bytes_limit(MAX_FORM_BYTES).await {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                let format = Format::from_params(None, None);
                let e = SubError::generic(format!(
                    "a form body is at most {} KiB",
                    MAX_FORM_BYTES / 1024
                ));
                let mut resp = fail(&format, &e);
                resp.set_status(http::StatusCode::PAYLOAD_TOO_LARGE);
                return resp;
            }
        }
    } else {
        None
    };
    let params = Params::parse(query, form.as_deref());
    let format = Format::from_params(params.get("f"), params.get("callback"));
    if method == "getOpenSubsonicExtensions" {
        return render(&format, &system::extensions(), None);
    }
    let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let user = match authenticate(app, &params, ip).await {
        Ok(user) => user,
        Err(e) => return fail(&format, &e),
    };
    let call = Call {
        app,
        user,
        params,
        req,
    };
    match dispatch(&method, &call).await {
        Ok(Reply::Doc(doc)) => render(&format, &doc, None),
        Ok(Reply::Raw(resp)) => resp,
        Err(e) => fail(&format, &e),
    }
}

async fn dispatch(method: &str, c: &Call<'_>) -> MethodResult {
    match method {
        "ping" => Ok(Response::ok(None).into()),
        "getLicense" => system::license(),
        "tokenInfo" => system::token_info(c),
        "getUser" => system::get_user(c),
        "getUsers" => system::get_users(c),
        "getScanStatus" => system::scan_status(c),
        "startScan" => system::start_scan(c).await,
        "getMusicFolders" => browse::music_folders(),
        "getIndexes" => browse::indexes(c),
        "getArtists" => browse::artists(c),
        "getMusicDirectory" => browse::music_directory(c),
        "getArtist" => browse::artist(c),
        "getAlbum" => browse::album(c),
        "getSong" => browse::song(c),
        "getArtistInfo" | "getArtistInfo2" => browse::artist_info(c, method),
        "getAlbumInfo" | "getAlbumInfo2" => browse::album_info(c),
        "getGenres" => lists::genres(c),
        "getAlbumList" | "getAlbumList2" => lists::album_list(c, method),
        "getRandomSongs" => lists::random_songs(c),
        "getSongsByGenre" => lists::songs_by_genre(c),
        "search2" | "search3" => lists::search(c, method),
        "getTopSongs" => lists::top_songs(c),
        "getSimilarSongs" | "getSimilarSongs2" => lists::similar_songs(c, method),
        "stream" => media::stream(c).await,
        "download" => media::download(c).await,
        "getCoverArt" => media::cover_art(c).await,
        "getLyricsBySongId" => media::lyrics_by_song_id(c),
        "getLyrics" => media::lyrics_by_name(c),
        "star" => user_data::star(c, true),
        "unstar" => user_data::star(c, false),
        "setRating" => user_data::set_rating(c),
        "getStarred" | "getStarred2" => user_data::starred(c, method),
        "scrobble" => user_data::scrobble(c),
        "getNowPlaying" => user_data::now_playing(c),
        "getPlayQueue" => user_data::play_queue(c),
        "savePlayQueue" => user_data::save_play_queue(c),
        "getPlaylists" => playlists::list(c),
        "getPlaylist" => playlists::get(c),
        "createPlaylist" => playlists::create(c),
        "updatePlaylist" => playlists::update(c),
        "deletePlaylist" => playlists::delete(c),
        other => Err(SubError::not_implemented(other)),
    }
}

const USE_APP_PASSWORD: &str = "the Subsonic API does not accept the account password: \
     create an app password or API key (web UI: Account > Apps, or `chillfi user key NAME`)";

/// Checks the credentials against the account as stored now. Failures count in the login
/// throttle shared with the web sign-in.
async fn authenticate(
    app: &App,
    params: &Params,
    ip: Option<std::net::IpAddr>,
) -> Result<User, SubError> {
    let creds = params::credentials(params)?;
    match creds {
        Credentials::ApiKey(key) => {
            app.auth.throttle_check(None, ip)?;
            match app.app_keys.by_api_key(&key, |id| app.users.get(id))? {
                Some(user) => Ok(user),
                None => {
                    app.auth.throttle_failure(None, ip);
                    Err(SubError::new(error::INVALID_API_KEY, "invalid API key"))
                }
            }
        }
        Credentials::Password { user, password } => {
            let name = user.trim().to_lowercase();
            app.auth.throttle_check(Some(&name), ip)?;
            let found = app.users.by_name(&name)?;
            if let Some(u) = &found
                && app
                    .app_keys
                    .app_password_matches(u, |secret| same_text(secret, &password))?
            {
                app.auth.throttle_success(&name);
                return Ok(u.clone());
            }
            app.auth.throttle_failure(Some(&name), ip);
            let is_account_password = match &found {
                Some(u) => app.auth.is_account_password(u, password).await,
                None => false,
            };
            Err(SubError::new(
                error::WRONG_CREDENTIALS,
                if is_account_password {
                    USE_APP_PASSWORD
                } else {
                    "wrong username or password"
                },
            ))
        }
        Credentials::Token { user, token, salt } => {
            let name = user.trim().to_lowercase();
            app.auth.throttle_check(Some(&name), ip)?;
            if let Some(u) = app.users.by_name(&name)?
                && app.app_keys.app_password_matches(&u, |secret| {
                    same_text(&subsonic_token(secret, &salt), &token)
                })?
            {
                app.auth.throttle_success(&name);
                return Ok(u);
            }
            app.auth.throttle_failure(Some(&name), ip);
            Err(SubError::new(
                error::WRONG_CREDENTIALS,
                "wrong username or password",
            ))
        }
    }
}
