/**
 * Paging of list calls (AIP-158): a page is the items after the position a token names, in the
 * list's own order (ids or names, ascending). The token is the last key of the previous page,
 * base64url-encoded: opaque to clients, stable across replicas, and valid after the list changed
 * (items added before the position are not repeated; items removed are not missed).
 */
import { invalidArgument } from '../common/errors.js';

/** Page sizes above this are served as this many (a client asking for "everything" passes 0). */
export const MAX_PAGE_SIZE = 10_000;
const MAX_TOKEN_CHARS = 512;

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export function page<T>(sorted: readonly T[], keyOf: (t: T) => string, pageSize: number, pageToken: string): Page<T> {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw invalidArgument('page_size', 'must be 0 (all) or a positive number of items');
  let from = 0;
  if (pageToken) {
    const after = pageToken.length <= MAX_TOKEN_CHARS && /^[A-Za-z0-9_-]+$/.test(pageToken) ? Buffer.from(pageToken, 'base64url').toString() : '';
    if (!after) throw invalidArgument('page_token', 'is not a token from next_page_token');
    // first item whose key sorts after the token's (binary search: the list is sorted by key)
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keyOf(sorted[mid]!) <= after) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
  }
  if (!pageSize) return { items: sorted.slice(from), nextPageToken: '' };
  const items = sorted.slice(from, from + Math.min(pageSize, MAX_PAGE_SIZE));
  const more = from + items.length < sorted.length;
  return { items, nextPageToken: more && items.length ? Buffer.from(keyOf(items.at(-1)!)).toString('base64url') : '' };
}
