// The PyTorch side of the benches: bench/pytorch_lenet.py in a child process, one JSON line per command, so
// Loupe and PyTorch run interleaved on the same machine state in one script.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../tests/helpers/fashion-mnist.ts';

// Debian's python3-torch lives with the system Python, not with a pyenv one that may come first on PATH.
const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

export class TorchSide {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: AsyncIterableIterator<string>;
  constructor(args: string[] = []) {
    this.child = spawn(PYTHON, [join(import.meta.dirname, 'pytorch_lenet.py'), '--data-dir', FASHION_MNIST_DIR, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async next(): Promise<Record<string, number | string | boolean>> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error('the PyTorch process ended early (is python3-torch installed?)');
    return JSON.parse(value);
  }
  async ask(cmd: string) {
    this.child.stdin.write(`${cmd}\n`);
    return this.next();
  }
  close() {
    this.child.stdin.end('quit\n');
  }
}
