// A uPlot line chart over per-minute points; redrawn in place when data changes.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesDef {
  label: string;
  color: string;
  /** Values per x; null leaves a gap. */
  values: (number | null)[];
  /** Right-hand axis (counts beside durations). */
  right?: boolean;
}

interface Props {
  title: string;
  /** Seconds since the epoch, ascending. */
  xs: number[];
  series: SeriesDef[];
  unit: string;
  rightUnit?: string;
  testid: string;
}

function options(p: Props, width: number): uPlot.Options {
  const axes: uPlot.Axis[] = [
    {},
    { label: p.unit, size: 56 },
  ];
  const scales: uPlot.Scales = { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } };
  if (p.rightUnit) {
    axes.push({ scale: 'r', side: 1, label: p.rightUnit, size: 48, grid: { show: false } });
    scales.r = { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] };
  }
  return {
    width,
    height: 220,
    scales,
    axes,
    series: [
      {},
      ...p.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        scale: s.right ? 'r' : 'y',
        spanGaps: false,
        points: { show: true, size: 4 },
      })),
    ],
  };
}

export function Chart(p: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = p.series.map((s) => s.label).join('|') + (p.rightUnit ?? '');
  const data = [p.xs, ...p.series.map((s) => s.values)] as uPlot.AlignedData;

  useEffect(() => {
    if (!box.current) return;
    const width = Math.max(300, box.current.clientWidth);
    plot.current = new uPlot(options(p, width), data, box.current);
    const onResize = () => {
      if (box.current && plot.current) {
        plot.current.setSize({ width: Math.max(300, box.current.clientWidth), height: 220 });
      }
    };
    addEventListener('resize', onResize);
    return () => {
      removeEventListener('resize', onResize);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure class="chart" data-testid={p.testid}>
      <figcaption>{p.title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
