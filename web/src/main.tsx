import { render } from 'preact';
import './styles.css';
import { startRouter } from './router';
import { initLibrary } from './state/library';
import { initPlayer, restoreQueueSongs } from './state/player';
import { initPlaylists } from './state/playlists';
import { connect, initTheme, onSignIn } from './state/session';
import { initUploads } from './state/uploads';
import { App } from './ui/App';

initTheme();
startRouter();
connect();
initLibrary();
initPlaylists();
initUploads();
initPlayer();
onSignIn(() => restoreQueueSongs());
render(<App />, document.getElementById('app')!);
