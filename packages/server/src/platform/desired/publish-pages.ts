import { type PublishDesiredOptions, publishDesiredStates } from './publish-desired-states.js';

/** Pages computed and published at once: one computing while another publishes. */
const pagesInFlight = 2;

/**
 * Publishes the desired states of every page of device ids `pages` yields,
 * keeping two pages in flight so the database work of one overlaps the
 * broker's acknowledgements of the other; returns how many were published.
 * Resolves only when every page is published, so a caller moves its position
 * after the whole set, and rejects with the first failure.
 */
export async function publishPages(
  options: PublishDesiredOptions,
  pages: AsyncIterable<readonly string[]>,
): Promise<number> {
  let published = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    for await (const page of pages) {
      if (failure !== undefined) break;
      const work: Promise<void> = publishDesiredStates(options, page).then(
        (count) => {
          published += count;
          inFlight.delete(work);
        },
        (error: unknown) => {
          failure ??= { error };
          inFlight.delete(work);
        },
      );
      inFlight.add(work);
      if (inFlight.size >= pagesInFlight) await Promise.race(inFlight);
    }
  } finally {
    // Even when paging fails (a lost lease, an abort), nothing keeps running behind the caller.
    await Promise.all(inFlight);
  }
  if (failure !== undefined) throw failure.error;
  return published;
}
