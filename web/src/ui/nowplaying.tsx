// The full-screen now-playing view: opened by tapping the mini player (or the song in the
// desktop bar). Big cover, title/artist/album, seek bar with times, the transport controls and
// the queue. Closes with the button, Escape, or a swipe down on its top part.
import { useEffect, useRef } from 'preact/hooks';
import { href } from '../router';
import { currentSong, queue } from '../state/player';
import { Cover } from './common';
import { Icon } from './icons';
import { HeartButton, RatingStars } from './marks';
import { QueueList, SeekBar, TransportButtons, closeNowPlaying, nowPlaying } from './player';

/** How far (px) a downward swipe must travel to close the view. */
const SWIPE_CLOSE = 90;

export function NowPlaying() {
  const open = nowPlaying.value;
  const ref = useRef<HTMLDivElement>(null);
  const drag = useRef<{ id: number; y0: number; dy: number } | null>(null);

  useEffect(() => {
    if (!open) return;
    ref.current?.querySelector<HTMLElement>('.np-close')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !document.querySelector('dialog[open]')) {
        e.preventDefault();
        closeNowPlaying();
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [!!open]);

  if (!open) return null;
  const s = currentSong.value;
  const q = queue.value;
  const upNext = q.items.length - Math.max(0, q.index) - 1;

  // Swipe down from the header or the cover: the sheet follows the finger and closes past a threshold.
  const sheet = () => ref.current;
  const onPointerDown = (e: PointerEvent) => {
    // Buttons keep their clicks (a captured pointer would send the click to the sheet).
    if (e.button !== 0 || (e.target as HTMLElement).closest('input, a, button')) return;
    drag.current = { id: e.pointerId, y0: e.clientY, dy: 0 };
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d || d.id !== e.pointerId) return;
    d.dy = Math.max(0, e.clientY - d.y0);
    const el = sheet();
    if (el) el.style.transform = d.dy ? `translateY(${d.dy}px)` : '';
  };
  const onPointerEnd = (e: PointerEvent) => {
    const d = drag.current;
    if (!d || d.id !== e.pointerId) return;
    drag.current = null;
    const el = sheet();
    if (el) el.style.transform = '';
    if (d.dy > SWIPE_CLOSE) closeNowPlaying();
  };
  const swipe = { onPointerDown, onPointerMove, onPointerUp: onPointerEnd, onPointerCancel: onPointerEnd };

  return (
    <div class="np" role="dialog" aria-modal="true" aria-label="Now playing" ref={ref} data-testid="now-playing">
      <header class="np-head swipe-zone" {...swipe}>
        <button type="button" class="icon-btn np-close" aria-label="Close the player" onClick={closeNowPlaying}>
          <Icon name="down" size={26} />
        </button>
        <span class="np-eyebrow">Now playing</span>
        <span class="np-grip" aria-hidden="true" />
      </header>
      <div class="np-body">
        <div class="np-main">
          <div class="np-art swipe-zone" {...swipe}>
            {s ? (
              <Cover url={s.coverUrl} seed={s.album || s.title} size="xl" label={`Cover of ${s.album || s.title}`} />
            ) : (
              <Cover seed="?" size="xl" />
            )}
          </div>
          <div class="np-text">
            <h2 class="np-title" data-testid="np-title">
              {s ? s.title || 'Untitled' : 'Nothing playing'}
            </h2>
            {s && (
              <>
                <p class="np-artist">
                  <a href={href(`/artist/${encodeURIComponent(s.artistId)}?name=${encodeURIComponent(s.artist)}`)} onClick={closeNowPlaying}>
                    {s.artist || 'Unknown artist'}
                  </a>
                </p>
                <p class="np-album">
                  <a href={href(`/album/${encodeURIComponent(s.albumId)}`)} onClick={closeNowPlaying}>
                    {s.album || 'Unknown album'}
                  </a>
                </p>
                <div class="np-marks">
                  <HeartButton song={s} size={24} />
                  <RatingStars song={s} size={22} />
                </div>
              </>
            )}
          </div>
          <SeekBar testId="np-seek" />
          <TransportButtons big />
        </div>
        <section class="np-queue" aria-label="Queue">
          <h3>{upNext > 0 ? `Up next · ${upNext}` : 'Queue'}</h3>
          {q.items.length ? <QueueList label="Queue" /> : <p class="muted">The queue is empty.</p>}
        </section>
      </div>
    </div>
  );
}
