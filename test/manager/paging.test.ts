/** Paging of list calls: pages join to the whole list, survive changes between pages, and bad input names the field. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_PAGE_SIZE, page } from '../../src/manager/paging.js';

const id = (s: string) => s;
const sortedUnique = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 60 }).map((xs) => xs.sort());

function all(list: () => string[], size: number): string[] {
  const out: string[] = [];
  let token = '';
  for (let guard = 0; guard < 1000; guard++) {
    const p = page(list(), id, size, token);
    out.push(...p.items);
    if (!p.nextPageToken) return out;
    token = p.nextPageToken;
  }
  throw new Error('paging did not end');
}

describe('page', () => {
  it('joins to the whole list for any page size; 0 is everything in one page', () => {
    fc.assert(
      fc.property(sortedUnique, fc.integer({ min: 1, max: 70 }), (xs, size) => {
        expect(all(() => xs, size)).toEqual(xs);
        expect(page(xs, id, 0, '')).toEqual({ items: xs, nextPageToken: '' });
      }),
    );
  });

  it('items present throughout are listed exactly once, whatever changes between pages', () => {
    fc.assert(
      fc.property(sortedUnique, sortedUnique, fc.integer({ min: 1, max: 10 }), (stable, churn, size) => {
        const churnOnly = churn.filter((c) => !stable.includes(c));
        let calls = 0;
        // every other call, the churn items come or go
        const list = () => (calls++ % 2 ? [...stable, ...churnOnly].sort() : stable);
        const got = all(list, size);
        expect(new Set(got).size).toBe(got.length);
        for (const s of stable) expect(got).toContain(s);
      }),
    );
  });

  it('caps a page at MAX_PAGE_SIZE and refuses a bad size or token, naming the field', () => {
    const big = Array.from({ length: MAX_PAGE_SIZE + 5 }, (_, i) => String(i).padStart(6, '0'));
    const p = page(big, id, MAX_PAGE_SIZE * 3, '');
    expect(p.items.length).toBe(MAX_PAGE_SIZE);
    expect(page(big, id, 0, p.nextPageToken).items.length).toBe(5);
    expect(() => page(big, id, -1, '')).toThrow(/^page_size: /);
    expect(() => page(big, id, 1.5, '')).toThrow(/^page_size: /);
    expect(() => page(big, id, 1, 'not a token!')).toThrow(/^page_token: is not a token/);
    expect(() => page(big, id, 1, 'A'.repeat(600))).toThrow(/^page_token: /);
  });
});
