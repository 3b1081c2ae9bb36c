// The app's one uploader, wired to pushes and reconnects.
import { cache, ensureSongs } from './library';
import { Uploader } from './uploader';
import { api, onPush, onReconnect } from './session';

export const uploader = new Uploader(api);

export function initUploads(): void {
  onPush('song:uploadProgress', (p) => uploader.onProgress(p));
  onPush('song:uploadResult', (r) => {
    // The finished row names the song it became (a duplicate names the song already there);
    // the song itself comes from the library (song:added, or asked for here).
    uploader.onResult(r);
    const id = r.song?.id;
    if (id && !cache.has(id)) void ensureSongs([id]);
  });
  onReconnect(() => void uploader.resume());
}
