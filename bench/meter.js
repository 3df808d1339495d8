// What a load generator process spent while it had work: wall time, its
// own CPU (all threads) and how late its event loop ran (a stall here would
// show up as latency), from meter() until the stop() it returns is called.
"use strict";
const { monitorEventLoopDelay } = require("perf_hooks");

function meter() {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  return () => {
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return {
      seconds: wall / 1000,
      loadgen_cpu_pct: wall > 0 ? ((cpu.user + cpu.system) / 1000 / wall) * 100 : 0,
      loadgen_sys_pct: wall > 0 ? (cpu.system / 1000 / wall) * 100 : 0,
      loadgen_loop_delay_max_ms: delay.max / 1e6,
      loadgen_loop_delay_p99_ms: delay.percentile(99) / 1e6,
    };
  };
}

module.exports = { meter };
