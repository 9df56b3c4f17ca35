/**
 * Registers the demo's service worker (src/offline/sw.ts, built by `npm start`) with
 * workbox-window. A new build's worker waits; the page is told (`onUpdate`) and the person
 * chooses when to switch, so one page never runs half of one build and half of another.
 */
import { Workbox } from 'workbox-window';

export interface ServiceWorkerHandle {
  /** Asks the waiting worker to take over; the page reloads once it controls it. */
  update(): void;
}

export function registerServiceWorker(onUpdate: (handle: ServiceWorkerHandle) => void): void {
  // Vite's dev server has no built worker; the demo then runs without one.
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
  const wb = new Workbox('/sw.js');
  wb.addEventListener('waiting', () => {
    onUpdate({
      update() {
        wb.addEventListener('controlling', () => location.reload());
        wb.messageSkipWaiting();
      },
    });
  });
  void wb.register().catch((error: unknown) => {
    console.warn('service worker not registered:', error);
  });
}
