/**
 * Line charts of a job's metrics with uPlot: one x axis (step), one or more series. The chart is
 * created once and fed new data on each poll; it follows its container's width. Canvas is invisible
 * to screen readers, so the figure carries a text summary (aria-label) and `data-points` (the number
 * of points drawn, which the browser tests read).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.ts';

export type SeriesSpec = { label: string; color: string; dash?: number[] };

export type LineChart = { el: HTMLElement; update(x: number[], ys: (number | null)[][]): void; destroy(): void };

function options(title: string, series: SeriesSpec[], width: number, yLog: boolean): uPlot.Options {
  const decades = yLog ? (_u: uPlot, splits: number[]) => splits.map((v) => (Number.isInteger(Math.round(Math.log10(v) * 1e6) / 1e6) ? v : null)) : undefined;
  return {
    title, width, height: 240,
    scales: { x: { time: false }, y: yLog ? { distr: 3, log: 10 } : { auto: true } },
    axes: [
      { label: 'step', stroke: '#475569', grid: { stroke: '#eef0f4' } },
      // On a log scale uPlot also ticks 2..9 of each decade; powers of ten alone read better.
      // Only set `filter` on log axes: an explicit undefined would replace uPlot's default.
      decades ? { stroke: '#475569', grid: { stroke: '#eef0f4', filter: decades }, ticks: { filter: decades }, size: 64, filter: decades } : { stroke: '#475569', grid: { stroke: '#eef0f4' }, size: 64 },
    ],
    series: [{ label: 'step' }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dash, spanGaps: true, points: { size: 5 } }))],
    cursor: { drag: { x: false, y: false } },
  };
}

/** A chart titled `title`; `describe` turns the data into the figure's text summary. */
export function lineChart(title: string, series: SeriesSpec[], describe: (x: number[], ys: (number | null)[][]) => string, opts: { yLog?: boolean } = {}): LineChart {
  const canvasBox = h('div', { class: 'chart-canvas', 'aria-hidden': 'true' });
  const summary = h('figcaption', { class: 'visually-hidden' });
  const el = h('figure', { class: 'chart', role: 'img', 'aria-label': `${title}: no data yet`, 'data-points': 0 }, canvasBox, summary);
  let plot: uPlot | null = null;
  const observer = new ResizeObserver(() => plot && plot.setSize({ width: Math.max(200, canvasBox.clientWidth), height: 240 }));
  observer.observe(canvasBox);
  return {
    el,
    update(x, ys) {
      const data: uPlot.AlignedData = [x, ...ys];
      if (!plot) plot = new uPlot(options(title, series, Math.max(200, canvasBox.clientWidth || 600), Boolean(opts.yLog)), data, canvasBox);
      else plot.setData(data);
      const text = describe(x, ys);
      el.setAttribute('aria-label', `${title}: ${text}`);
      el.setAttribute('data-points', String(ys[0]?.filter((v) => v !== null).length ?? 0));
      summary.textContent = text;
    },
    destroy() {
      observer.disconnect();
      plot?.destroy();
    },
  };
}
