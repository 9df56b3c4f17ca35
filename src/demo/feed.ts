/** The feed: the shown items as buttons, best predicted first. */
import type { DemoItem } from './world.ts';

export interface FeedEntry {
  /** Catalog index. */
  index: number;
  item: DemoItem;
  score: number;
}

/** Replaces the feed's items; `onPick` gets the catalog index of the clicked one. */
export function renderFeed(
  list: HTMLOListElement,
  entries: readonly FeedEntry[],
  onPick: (index: number) => void,
): void {
  const ranked = [...entries].sort((a, b) => b.score - a.score);
  list.replaceChildren(
    ...ranked.map((entry, rank) => {
      const percent = Math.round(entry.score * 100);
      const li = document.createElement('li');
      li.dataset.item = String(entry.index);
      const button = document.createElement('button');
      button.type = 'button';
      const title = document.createElement('span');
      title.textContent = `${entry.item.title} (${entry.item.year}) · ${entry.item.genres.join(', ')}`;
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = `${percent}%`;
      button.append(title, score);
      button.setAttribute(
        'aria-label',
        `Like ${entry.item.title}, ranked ${rank + 1}, predicted ${percent} percent`,
      );
      button.addEventListener('click', () => onPick(entry.index));
      li.append(button);
      return li;
    }),
  );
}
