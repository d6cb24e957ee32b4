import { loadTokenizer } from '/work/wt/bench-data/src/tokenizer/index.ts';
const f = process.argv[2]!;
const c = process.cpuUsage(); const t = performance.now();
const tok = await loadTokenizer(f);
const u = process.cpuUsage(c);
console.log(f.split('/').pop(), 'load', ((u.user+u.system)/1e6).toFixed(2), 'cpu-s', ((performance.now()-t)/1000).toFixed(2), 's; maxRSS', (process.resourceUsage().maxRSS/1024).toFixed(0), 'MB; heap now', (process.memoryUsage().heapUsed/1e6).toFixed(0), 'rss now', (process.memoryUsage().rss/1e6).toFixed(0), tok.vocabSize);
