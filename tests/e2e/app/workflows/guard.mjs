// The stateUpdatedAt guard (optimistic concurrency) seen from a real run.
import { createHook } from 'workflow';

async function label(text) {
  'use step';
  return `step:${text}`;
}

/**
 * One suspension creates the hook and then the first step. The e2e app can make
 * a hook payload arrive in between (POST /control/interleave), so that the
 * step_created carries a snapshot older than the hook_received: the service
 * refuses it (412), the runtime reloads its log and retries.
 */
export async function hookDuringSuspension(token) {
  'use workflow';
  const hook = createHook({ token });
  const first = await label('first');
  const payload = await hook;
  const second = await label(String(payload.n));
  return { first, payload, second };
}
