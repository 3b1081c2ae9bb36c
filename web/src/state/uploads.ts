// The app's one uploader, wired to pushes and reconnects.
import { Uploader } from './uploader';
import { api, onPush, onReconnect } from './session';

export const uploader = new Uploader(api);

export function initUploads(): void {
  onPush('song:uploadProgress', (p) => uploader.onProgress(p));
  onPush('song:uploadResult', (r) => uploader.onResult(r));
  onReconnect(() => void uploader.resume());
}
