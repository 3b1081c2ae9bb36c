// The heart (favourite) and the 1-to-5 rating of the signed-in user, wherever a song shows.
import type { Song } from '../api/types';
import { rateSong, toggleStar } from '../state/marks';
import { Icon } from './icons';

export function HeartButton(props: { song: Song; size?: number; class?: string }) {
  const s = props.song;
  const on = !!s.starred;
  return (
    <button
      type="button"
      class={`icon-btn heart ${on ? 'on' : ''} ${props.class ?? ''}`}
      aria-pressed={on}
      aria-label={`Favourite ${s.title || 'Untitled'}`}
      title={on ? 'Remove from favourites' : 'Add to favourites'}
      onClick={(e) => {
        e.stopPropagation();
        void toggleStar(s.id);
      }}
    >
      <Icon name={on ? 'heart' : 'heart-outline'} size={props.size ?? 18} />
    </button>
  );
}

/** Five stars; choosing the current rating again clears it. */
export function RatingStars(props: { song: Song; size?: number }) {
  const s = props.song;
  const rating = s.rating ?? 0;
  return (
    <div class="rating" role="radiogroup" aria-label={`Rating of ${s.title || 'Untitled'}`}>
      {[1, 2, 3, 4, 5].map((n) => (
        <button
          key={n}
          type="button"
          role="radio"
          class={`rating-star ${n <= rating ? 'on' : ''}`}
          aria-checked={n === rating}
          aria-label={n === 1 ? '1 star' : `${n} stars`}
          title={n === rating ? 'Clear the rating' : undefined}
          onClick={(e) => {
            e.stopPropagation();
            void rateSong(s.id, n === rating ? 0 : n);
          }}
        >
          <Icon name={n <= rating ? 'star' : 'star-outline'} size={props.size ?? 18} />
        </button>
      ))}
    </div>
  );
}
