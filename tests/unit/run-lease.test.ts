// Whether a run's holder is still alive (issue 14): a live pid is not enough when it may have been reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LEASE_STALE_MS, leaseHolderAlive, processStartToken, type RunLease } from '../../electron/core/training/run-lease.ts';

// The test runner that started this file: alive, and not this process.
const other = process.ppid;
const at = new Date().toISOString();

test('a holder is alive while its pid is the process that took the lease', { skip: process.platform !== 'linux' && 'start times are read from /proc' }, () => {
  const started = processStartToken(other);
  assert.ok(started);
  assert.equal(leaseHolderAlive({ pid: other, started, role: 'training', at }), true);
  // The same pid, started at another time: a different process that reused it after the holder died.
  assert.equal(leaseHolderAlive({ pid: other, started: String(Number(started) + 1), role: 'training', at }), false);
});

test('where start times are unknown, a lease not refreshed for LEASE_STALE_MS is dead even with a live pid', () => {
  const lease: RunLease = { pid: other, started: null, role: 'queued', at };
  assert.equal(leaseHolderAlive(lease), true);
  assert.equal(leaseHolderAlive(lease, Date.parse(at) + LEASE_STALE_MS + 1), false);
  assert.equal(leaseHolderAlive({ ...lease, at: 'garbage' }), false);
});

test('a holder whose pid is gone is dead', () => {
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(gone.stdout);
  assert.equal(leaseHolderAlive({ pid, started: null, role: 'training', at }), false);
  assert.equal(leaseHolderAlive({ pid: 0, started: null, role: 'training', at }), false);
});
