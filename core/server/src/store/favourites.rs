//! Per-user favourites (stars) and ratings (1 to 5) of songs, albums and artists.
//! Keys are `<userId>\0<kind>\0<itemId>`; a star holds when it was set, a rating its value.
//! Invariant: a rating is 1..=5 (setting 0 removes it).

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::store::db::{self, Db, now_secs};

const STARS: &str = "stars";
const RATINGS: &str = "ratings";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    Song,
    Album,
    Artist,
}

impl ItemKind {
    fn tag(self) -> u8 {
        match self {
            Self::Song => b's',
            Self::Album => b'a',
            Self::Artist => b'r',
        }
    }
}

/// One user's marks on one item, as clients see them: when it was starred (Unix seconds) and
/// the rating (1 to 5); `None` when not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marks {
    pub starred: Option<i64>,
    pub rating: Option<u8>,
}

#[derive(Clone)]
pub struct Favourites {
    stars: sled::Tree,
    ratings: sled::Tree,
}

fn prefix(user_id: &str, kind: ItemKind) -> Vec<u8> {
    let mut key = user_id.as_bytes().to_vec();
    key.push(0);
    key.push(kind.tag());
    key.push(0);
    key
}

fn key(user_id: &str, kind: ItemKind, id: &str) -> Vec<u8> {
    let mut key = prefix(user_id, kind);
    key.extend_from_slice(id.as_bytes());
    key
}

impl Favourites {
    pub fn new(db: &Db) -> AppResult<Self> {
        Ok(Self {
            stars: db.tree(STARS)?,
            ratings: db.tree(RATINGS)?,
        })
    }

    /// Stars an item (again: keeps the first time).
    pub fn star(&self, user_id: &str, kind: ItemKind, id: &str) -> AppResult<i64> {
        let now = now_secs();
        let k = key(user_id, kind, id);
        match self
            .stars
            .compare_and_swap(&k, None as Option<&[u8]>, Some(db::encode(&now)?))?
        {
            Ok(()) => Ok(now),
            Err(current) => current
                .current
                .map(|v| db::decode(&v))
                .transpose()
                .map(|t| t.unwrap_or(now)),
        }
    }

    pub fn unstar(&self, user_id: &str, kind: ItemKind, id: &str) -> AppResult<()> {
        self.stars.remove(key(user_id, kind, id))?;
        Ok(())
    }

    /// When the user starred it, if they did.
    pub fn starred_at(&self, user_id: &str, kind: ItemKind, id: &str) -> AppResult<Option<i64>> {
        db::get(&self.stars, key(user_id, kind, id))
    }

    /// The user's starred items of one kind, most recent first.
    pub fn starred(&self, user_id: &str, kind: ItemKind) -> AppResult<Vec<(String, i64)>> {
        let p = prefix(user_id, kind);
        let mut out = Vec::new();
        for item in self.stars.scan_prefix(&p) {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k[p.len()..]).into_owned();
            out.push((id, db::decode::<i64>(&v)?));
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Sets a rating 1..=5, or removes it with 0.
    pub fn rate(&self, user_id: &str, kind: ItemKind, id: &str, rating: u8) -> AppResult<()> {
        let k = key(user_id, kind, id);
        match rating {
            0 => {
                self.ratings.remove(k)?;
            }
            1..=5 => {
                self.ratings.insert(k, vec![rating])?;
            }
            _ => {
                return Err(AppError::invalid_field(
                    "rating",
                    "a rating is 1 to 5 (0 removes it)",
                ));
            }
        }
        Ok(())
    }

    pub fn rating(&self, user_id: &str, kind: ItemKind, id: &str) -> AppResult<Option<u8>> {
        Ok(self
            .ratings
            .get(key(user_id, kind, id))?
            .and_then(|v| v.first().copied())
            .filter(|r| (1..=5).contains(r)))
    }

    pub fn marks(&self, user_id: &str, kind: ItemKind, id: &str) -> AppResult<Marks> {
        Ok(Marks {
            starred: self.starred_at(user_id, kind, id)?,
            rating: self.rating(user_id, kind, id)?,
        })
    }

    /// The user's ratings of one kind.
    pub fn ratings(&self, user_id: &str, kind: ItemKind) -> AppResult<Vec<(String, u8)>> {
        let p = prefix(user_id, kind);
        let mut out = Vec::new();
        for item in self.ratings.scan_prefix(&p) {
            let (k, v) = item?;
            if let Some(r) = v.first().copied().filter(|r| (1..=5).contains(r)) {
                out.push((String::from_utf8_lossy(&k[p.len()..]).into_owned(), r));
            }
        }
        Ok(out)
    }

    pub fn forget_user(&self, user_id: &str) -> AppResult<()> {
        let mut p = user_id.as_bytes().to_vec();
        p.push(0);
        for tree in [&self.stars, &self.ratings] {
            for k in tree.scan_prefix(&p).keys() {
                tree.remove(k?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn favs() -> (tempfile::TempDir, Favourites) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        (dir, Favourites::new(&db).unwrap())
    }

    #[test]
    fn stars_are_per_user_and_kind() {
        let (_d, f) = favs();
        f.star("u1", ItemKind::Song, "s1").unwrap();
        f.star("u1", ItemKind::Album, "s1").unwrap();
        f.star("u2", ItemKind::Song, "s2").unwrap();
        let songs: Vec<_> = f
            .starred("u1", ItemKind::Song)
            .unwrap()
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(songs, vec!["s1"]);
        assert!(f.starred_at("u2", ItemKind::Song, "s1").unwrap().is_none());
        let first = f.star("u1", ItemKind::Song, "s1").unwrap();
        assert_eq!(
            Some(first),
            f.starred_at("u1", ItemKind::Song, "s1").unwrap()
        );
        f.unstar("u1", ItemKind::Song, "s1").unwrap();
        assert!(f.starred("u1", ItemKind::Song).unwrap().is_empty());
        assert_eq!(f.starred("u1", ItemKind::Album).unwrap().len(), 1);
    }

    #[test]
    fn ratings_are_one_to_five_and_zero_clears() {
        let (_d, f) = favs();
        f.rate("u1", ItemKind::Song, "s1", 4).unwrap();
        assert_eq!(f.rating("u1", ItemKind::Song, "s1").unwrap(), Some(4));
        assert!(f.rate("u1", ItemKind::Song, "s1", 6).is_err());
        assert_eq!(
            f.rating("u1", ItemKind::Song, "s1").unwrap(),
            Some(4),
            "kept after a bad value"
        );
        f.rate("u1", ItemKind::Song, "s1", 0).unwrap();
        assert_eq!(f.rating("u1", ItemKind::Song, "s1").unwrap(), None);
    }

    #[test]
    fn a_deleted_user_leaves_nothing() {
        let (_d, f) = favs();
        f.star("u1", ItemKind::Artist, "r").unwrap();
        f.rate("u1", ItemKind::Album, "a", 3).unwrap();
        f.star("u10", ItemKind::Artist, "r").unwrap();
        f.forget_user("u1").unwrap();
        assert!(f.starred("u1", ItemKind::Artist).unwrap().is_empty());
        assert_eq!(f.rating("u1", ItemKind::Album, "a").unwrap(), None);
        assert_eq!(
            f.starred("u10", ItemKind::Artist).unwrap().len(),
            1,
            "u10 is not u1"
        );
    }
}
