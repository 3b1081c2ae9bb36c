// The public share page's player (/s/<token>). Served as a file: the page's CSP allows no
// inline script. It knows nothing of the app (it opens no connection and reads no stored data
// or cookies): it turns the page's per-track native players into one player with play all,
// previous/next, a seek bar and the current track highlighted. Without it every track keeps
// its own <audio controls>.
(() => {
  'use strict';
  const list = document.querySelector('.tracks');
  const bar = document.querySelector('.player');
  const tracks = list ? [...list.querySelectorAll('.track[data-src]')] : [];
  if (!tracks.length || !bar) return;
  document.documentElement.classList.add('js');

  // One player for the page: the per-track ones go (they load nothing: preload="none").
  for (const t of tracks) t.querySelector('audio')?.remove();
  const audio = new Audio();
  audio.preload = 'none';
  bar.append(audio); // without controls it shows nothing; in the page it can be inspected

  const q = (sel) => bar.querySelector(sel);
  const playBtn = q('[data-act="play"]');
  const prevBtn = q('[data-act="prev"]');
  const nextBtn = q('[data-act="next"]');
  const seek = q('.seek input');
  const pos = q('.pos');
  const dur = q('.dur');
  const nowTitle = q('.now-title');
  const nowArtist = q('.now-artist');
  const playAll = document.querySelector('[data-act="play-all"]');
  let cur = -1;

  const text = (t, sel) => t.querySelector(sel)?.textContent ?? '';
  const fmt = (s) => {
    if (!Number.isFinite(s) || s < 0) s = 0;
    const m = Math.floor(s / 60);
    const r = Math.floor(s % 60);
    return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
  };
  const length = () => (Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : Number(tracks[cur]?.dataset.duration) || 0);

  function mark() {
    tracks.forEach((t, i) => {
      const on = i === cur;
      t.classList.toggle('current', on);
      t.classList.toggle('playing', on && !audio.paused);
      if (on) t.setAttribute('aria-current', 'true');
      else t.removeAttribute('aria-current');
      const b = t.querySelector('.track-play');
      if (b) b.setAttribute('aria-label', `${on && !audio.paused ? 'Pause' : 'Play'} ${text(t, '.track-title')}`);
    });
    bar.classList.toggle('playing', !audio.paused);
    playBtn.setAttribute('aria-label', audio.paused ? 'Play' : 'Pause');
    prevBtn.disabled = cur <= 0 && audio.currentTime < 3;
    nextBtn.disabled = cur < 0 || cur >= tracks.length - 1;
  }

  function load(i, autoplay) {
    if (i < 0 || i >= tracks.length) return;
    cur = i;
    const t = tracks[i];
    t.classList.remove('failed');
    audio.src = t.dataset.src;
    nowTitle.textContent = text(t, '.track-title');
    nowArtist.textContent = text(t, '.track-artist');
    seek.max = String(Math.max(1, Number(t.dataset.duration) || 1));
    seek.value = '0';
    pos.textContent = '0:00';
    dur.textContent = text(t, '.track-dur');
    seek.disabled = false;
    if (autoplay) audio.play().catch(() => {});
    mark();
  }

  function toggle() {
    if (cur < 0) return load(0, true);
    if (audio.paused) audio.play().catch(() => {});
    else audio.pause();
  }

  tracks.forEach((t, i) => {
    const b = t.querySelector('.track-play');
    if (b) b.hidden = false;
    t.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      if (i === cur) toggle();
      else load(i, true);
    });
  });
  playAll?.addEventListener('click', () => load(0, true));
  if (playAll) playAll.hidden = false;
  playBtn.addEventListener('click', toggle);
  prevBtn.addEventListener('click', () => {
    if (audio.currentTime > 3 || cur <= 0) audio.currentTime = 0;
    else load(cur - 1, true);
  });
  nextBtn.addEventListener('click', () => load(cur + 1, true));
  seek.addEventListener('input', () => {
    if (cur >= 0) audio.currentTime = Number(seek.value);
  });
  audio.addEventListener('timeupdate', () => {
    seek.max = String(Math.max(1, Math.floor(length())));
    seek.value = String(Math.floor(audio.currentTime));
    seek.style.setProperty('--pct', `${length() ? (audio.currentTime / length()) * 100 : 0}%`);
    pos.textContent = fmt(audio.currentTime);
    prevBtn.disabled = cur <= 0 && audio.currentTime < 3;
  });
  audio.addEventListener('play', mark);
  audio.addEventListener('pause', mark);
  audio.addEventListener('ended', () => {
    if (cur < tracks.length - 1) load(cur + 1, true);
    else mark();
  });
  audio.addEventListener('error', () => {
    // The link ran out of plays or expired meanwhile: say so on the row.
    const t = tracks[cur];
    if (!t) return;
    t.classList.add('failed');
    const a = t.querySelector('.track-artist');
    if (a) a.textContent = 'Not available any more';
    mark();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== ' ' || e.target.closest('button, input, a')) return;
    e.preventDefault();
    toggle();
  });
  bar.hidden = false;
  mark();
})();
