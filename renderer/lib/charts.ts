/**
 * chart.js, registered once with only the pieces Loupe draws (line charts on linear axes, legend, tooltip), so
 * the rest of the library stays out of the bundle. Colours and fonts follow app.css.
 */
import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartDataset,
} from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip, Filler);

Chart.defaults.color = '#8a9099';
Chart.defaults.borderColor = '#2e3238';
Chart.defaults.font.size = 10;
Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'DejaVu Sans', sans-serif";

/** Series colours: distinct on the dark panel, the accent first. */
export const SERIES = ['#4d8df7', '#e0a03a', '#4caf7a', '#e0605a', '#a57de8', '#3fc1c9', '#d46fb0', '#9aa0a8', '#c8c84a', '#7fa0ff'];
export const seriesColor = (i: number): string => SERIES[i % SERIES.length]!;

export type Point = { x: number; y: number };
export type LineDataset = ChartDataset<'line', Point[]>;

export interface AxisOptions {
  title?: string;
  min?: number;
  max?: number;
  log?: boolean;
}

export interface LineChartOptions {
  x: AxisOptions;
  y: AxisOptions;
  /** Keep the plot square (ROC, calibration). */
  square?: boolean;
  legend?: boolean;
}

export function lineConfig(datasets: LineDataset[], o: LineChartOptions): ChartConfiguration<'line', Point[]> {
  const axis = (a: AxisOptions) => ({
    type: a.log ? ('logarithmic' as const) : ('linear' as const),
    min: a.min,
    max: a.max,
    title: { display: Boolean(a.title), text: a.title ?? '' },
    ticks: { maxTicksLimit: 6 },
    grid: { color: '#26292e' },
  });
  return {
    type: 'line',
    data: { datasets },
    options: {
      // Live charts update up to 10 times a second: animating each update only burns CPU.
      animation: false,
      responsive: true,
      maintainAspectRatio: Boolean(o.square),
      aspectRatio: o.square ? 1 : undefined,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false, axis: 'x' },
      plugins: {
        legend: { display: o.legend ?? true, position: 'bottom', labels: { boxWidth: 10, boxHeight: 2, padding: 8 } },
        tooltip: { animation: false },
      },
      scales: { x: axis(o.x), y: axis(o.y) },
    },
  };
}

export function line(label: string, data: Point[], color: string, extra: Partial<LineDataset> = {}): LineDataset {
  return {
    label,
    data,
    borderColor: color,
    backgroundColor: color,
    borderWidth: 1.5,
    pointRadius: data.length > 40 ? 0 : 2,
    pointHoverRadius: 3,
    tension: 0,
    ...extra,
  };
}

export { Chart };
