/**
 * Typed calls to a running `loupe serve` over its HTTP API, for test set-up (a sample project, a trained run)
 * that is not what the test is about. The UI under test goes through the page, never through this.
 */
import type { Method, RequestInput, Response } from '../../../shared/contract.ts';
import { TOKEN_HEADER, apiPath, type WireReply } from '../../../shared/transport.ts';
import type { Served } from './serve.ts';

export async function hostApi<M extends Method>(served: Served, method: M, request: RequestInput<M>): Promise<Response<M>> {
  const res = await fetch(served.origin + apiPath(method), {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: served.token },
    body: JSON.stringify(request),
  });
  const reply = (await res.json()) as WireReply<Response<M>>;
  if (!reply.ok) throw new Error(`${method}: ${reply.error.message}`);
  return reply.data;
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A sample project (three classes of synthetic radiographs, `perClass` each) made and imported by the host. */
export async function createSampleProject(served: Served, path: string, perClass: number): Promise<void> {
  const { jobId } = await hostApi(served, 'projects:createSample', { path, perClass });
  const job = await pollUntil('the sample project', async () => {
    const j = (await hostApi(served, 'jobs:list', {})).find((x) => x.jobId === jobId);
    return j && j.state !== 'running' ? j : undefined;
  });
  if (job.state !== 'succeeded') throw new Error(`sample project: ${job.state} ${job.message}`);
}
