// A page that runs one learner, driven by its parent over postMessage: it stands in for another
// tab of the same origin (several iframes = several tabs), and removing the iframe closes it.
import type { Learner } from '../../../src/client/index.ts';
import { createLearner } from '../../../src/client/index.ts';
import type { PageCommand, PageReply } from './tabs.ts';

const page = new URLSearchParams(location.search).get('page');
const reply = (message: PageReply) => parent.postMessage({ ...message, page }, '*');
let learner: Learner | undefined;

window.addEventListener('message', async (event: MessageEvent<PageCommand>) => {
  const command = event.data;
  if (command.kind === 'start') {
    try {
      learner = await createLearner({
        model: { bytes: command.model },
        store: { name: command.store, snapshotEvery: command.snapshotEvery },
      });
      reply({ kind: 'ready' });
    } catch (error) {
      reply({ kind: 'failed', message: String(error) });
    }
  } else if (command.kind === 'observe' && learner) {
    learner.observe(command.example, command.label, { id: command.id }).then(
      (result) => reply({ kind: 'observed', id: command.id, duplicate: result.duplicate }),
      (error: unknown) => reply({ kind: 'rejected', id: command.id, message: String(error) }),
    );
  }
});
reply({ kind: 'loaded' });
