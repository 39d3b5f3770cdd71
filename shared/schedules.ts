/**
 * Learning-rate schedules and early stopping as small state machines over per-epoch metrics. Pure, so they are
 * tested on scripted metric sequences, and their state is saved with a checkpoint for exact resume.
 */
import type { ScheduleConfig } from './training.ts';

export interface ScheduleState {
  /** Current factor on the base learning rate (plateau only changes it). */
  factor: number;
  best: number | null;
  badEpochs: number;
}

export class LrSchedule {
  private readonly config: ScheduleConfig;
  private readonly baseLr: number;
  private readonly totalEpochs: number;
  state: ScheduleState;

  constructor(config: ScheduleConfig, baseLr: number, totalEpochs: number, state?: ScheduleState) {
    this.config = config;
    this.baseLr = baseLr;
    this.totalEpochs = totalEpochs;
    this.state = state ? { ...state } : { factor: 1, best: null, badEpochs: 0 };
  }

  /** The learning rate for a 0-based epoch (before it starts). */
  lrFor(epoch: number): number {
    const c = this.config;
    switch (c.kind) {
      case 'constant':
        return this.baseLr;
      case 'step':
        return this.baseLr * Math.pow(c.gamma, Math.floor(epoch / c.everyEpochs));
      case 'cosine': {
        if (epoch < c.warmupEpochs) return (this.baseLr * (epoch + 1)) / (c.warmupEpochs + 1);
        const span = Math.max(1, this.totalEpochs - c.warmupEpochs);
        const t = Math.min(1, (epoch - c.warmupEpochs) / span);
        const min = this.baseLr * c.minLrFactor;
        return min + 0.5 * (this.baseLr - min) * (1 + Math.cos(Math.PI * t));
      }
      case 'plateau':
        return this.baseLr * this.state.factor;
    }
  }

  /** Feeds the monitored validation loss after an epoch (used by reduce-on-plateau only). */
  observe(valLoss: number | null): void {
    const c = this.config;
    if (c.kind !== 'plateau' || valLoss === null || !Number.isFinite(valLoss)) return;
    if (this.state.best === null || valLoss < this.state.best - 1e-4 * Math.abs(this.state.best)) {
      this.state.best = valLoss;
      this.state.badEpochs = 0;
    } else if (++this.state.badEpochs >= c.patience) {
      this.state.factor = Math.max(c.minLrFactor, this.state.factor * c.factor);
      this.state.badEpochs = 0;
    }
  }
}

export interface EarlyStopState {
  best: number | null;
  bestEpoch: number | null;
  badEpochs: number;
}

/** Stops when the monitored metric has not improved for `patience` epochs; remembers the best epoch. */
export class EarlyStopping {
  private readonly monitor: 'val_loss' | 'val_accuracy';
  private readonly patience: number | null;
  state: EarlyStopState;

  constructor(config: { monitor: 'val_loss' | 'val_accuracy'; patience: number } | null, state?: EarlyStopState) {
    this.monitor = config?.monitor ?? 'val_loss';
    this.patience = config?.patience ?? null;
    this.state = state ? { ...state } : { best: null, bestEpoch: null, badEpochs: 0 };
  }

  /** Records an epoch's metrics; returns whether it is the best so far (the checkpoint to keep). */
  observe(epoch: number, metrics: { valLoss: number | null; valAccuracy: number | null }): { improved: boolean; stop: boolean } {
    const value = this.monitor === 'val_loss' ? metrics.valLoss : metrics.valAccuracy;
    if (value === null || !Number.isFinite(value)) {
      // No validation data: every epoch is "best" (the last one is kept), and nothing stops early.
      this.state.bestEpoch = epoch;
      return { improved: true, stop: false };
    }
    const better =
      this.state.best === null || (this.monitor === 'val_loss' ? value < this.state.best : value > this.state.best);
    if (better) {
      this.state.best = value;
      this.state.bestEpoch = epoch;
      this.state.badEpochs = 0;
    } else {
      this.state.badEpochs++;
    }
    return { improved: better, stop: this.patience !== null && this.state.badEpochs >= this.patience };
  }
}
