// Server validation messages as sentences for people. The server names the field
// (`metadata.year`, `maxPlays`…) and says what is wrong in terse developer English; this maps
// the field to its label in the UI and the known shapes of messages to a sentence. Anything not
// recognised keeps the server's text, made into a sentence (capital first letter, full stop).

const LABELS: Record<string, string> = {
  title: 'The title',
  artist: 'The artist',
  album: 'The album',
  albumArtist: 'The album artist',
  genre: 'The genre',
  year: 'The year',
  track: 'The track number',
  trackTotal: 'The number of tracks',
  disc: 'The disc number',
  discTotal: 'The number of discs',
  name: 'The name',
  description: 'The description',
  username: 'The username',
  displayName: 'The display name',
  bio: 'The bio',
  password: 'The password',
  newPassword: 'The new password',
  currentPassword: 'The current password',
  search: 'The search',
  maxPlays: 'The play limit',
  expiresAt: 'The expiry date',
  label: 'The app name',
};

/** The field's last part (`metadata.year` → `year`, `files[2].name` → `name`). */
export function fieldLeaf(field: string | undefined): string | undefined {
  return field?.split('.').pop()?.replace(/\[\d+\]$/, '');
}

export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

/** A sentence for an `invalid` error; `message` is the server's text. */
export function humanInvalid(field: string | undefined, message: string): string {
  const leaf = fieldLeaf(field);
  const label = (leaf && LABELS[leaf]) || 'This';
  let m: RegExpMatchArray | null;
  if (leaf === 'currentPassword' && /wrong/.test(message)) return 'The current password is not right.';
  if ((m = message.match(/password needs at least (\d+) characters/))) return `Use a password of at least ${m[1]} characters.`;
  if ((m = message.match(/password has at most (\d+) characters/))) return `Use a password of at most ${m[1]} characters.`;
  if (leaf === 'username' && /letters, digits/.test(message)) return 'A username may only contain letters, digits, “.”, “_” and “-”.';
  if (leaf === 'username' && (m = message.match(/(\d+) to (\d+) characters/))) return `A username has ${m[1]} to ${m[2]} characters.`;
  if ((m = message.match(/^no user named '(.*)'$/))) return `There is no user named “${m[1]}”.`;
  if (leaf === 'name' && /needs a name/.test(message)) return 'Please give it a name.';
  if (leaf === 'maxPlays' && (m = message.match(/(\d+) to (\d+)/))) return `The play limit is a number from ${m[1]} to ${m[2]}.`;
  if (leaf === 'expiresAt') return 'Choose an expiry date in the future, at most 10 years ahead.';
  if ((m = message.match(/is (-?\d+) to (-?\d+) or null/))) return `${label} must be a whole number from ${m[1]} to ${m[2]}, or left empty.`;
  if (/is a whole number/.test(message)) return `${label} must be a whole number.`;
  if (/cannot be empty/.test(message)) return `${label} cannot be empty.`;
  if ((m = message.match(/at most (\d+) characters/))) return `${label} can be at most ${m[1]} characters long.`;
  if (/one line|control characters/.test(message)) return `${label} must be a single line of text.`;
  return sentence(message);
}
