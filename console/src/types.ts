// The shapes the management API answers with (see crates/ondol-core/src/status.rs,
// crates/ondol-api/src/{apps,cost,event_config}.rs).

export interface Summary {
  invocations: number;
  errors: number;
  throttles: number;
  cold_starts: number;
  p50_ms: number | null;
  p99_ms: number | null;
  init_p50_ms: number | null;
}

export interface FunctionStatus {
  name: string;
  runtime: string;
  memory_mb: number;
  versions: string[];
  aliases: { name: string; weights: Record<string, number> }[];
  instances: { idle: number; busy: number; starting: number };
  last_5m: Summary;
  last_hour: Summary;
}

export interface RouteStatus {
  route: string;
  host: string | null;
  function: string;
  qualifier: string | null;
}

export interface Status {
  apps: { app: string; stage: string; hosts: string[]; routes: RouteStatus[] }[];
  functions: FunctionStatus[];
}

export interface Line {
  item: string;
  quantity: number;
  usd: number;
  formula: string;
}

export interface Bill {
  lines: Line[];
  total_usd: number;
}

export interface Budget {
  scope: string;
  month: string;
  monthly_usd: number;
  spent_usd: number;
  percent: number;
  state: 'ok' | 'warning' | 'exceeded';
  alert_function?: string;
}

export interface Usage {
  requests: number;
  gb_seconds: number;
  provisioned_gb_seconds: number;
  http_requests: number;
}

export interface Cost {
  month: string;
  app: string | null;
  stage: string | null;
  region: string;
  region_name: string;
  free_tier: boolean;
  prices: { version: string; read_on: string; sources: string[] };
  month_elapsed: number;
  usage: Usage;
  functions: {
    function: string;
    version: string;
    stage: string;
    memory_mb: number;
    requests: number;
    billed_ms: number;
    http_requests: number;
    gb_seconds: number;
    provisioned_gb_seconds: number;
  }[];
  month_to_date: { total_formula: string; bill: Bill };
  projected: { usage: Usage; total_formula: string; bill: Bill };
  budgets: Budget[];
}

export interface Invocation {
  request_id: string;
  version: string;
  ts_ms: number;
  duration_ms: number;
  init_ms: number | null;
  outcome: 'success' | 'error' | 'timeout' | string;
}

export interface Minute {
  ts_ms: number;
  invocations: number;
  errors: number;
  throttles: number;
  cold_starts: number;
  p50_ms: number | null;
  p99_ms: number | null;
  init_p50_ms: number | null;
}

export interface LogEntry {
  seq: number;
  ts_ms: number;
  function: string;
  version: string;
  request_id: string | null;
  instance: string | null;
  line: string;
}

export interface AppRecord {
  app: string;
  stage: string;
  hosts: string[];
  routes: { key: string; function: string; qualifier?: string | null }[];
  schedules?: { name: string; function: string; expression: string }[];
}

export interface Deploy {
  id: number;
  app: string;
  stage: string;
  at_ms: number;
  who: string;
  outcome: string;
  versions: Record<string, string>;
  fingerprints?: Record<string, string>;
}

export interface Schedule {
  app: string;
  stage: string;
  name: string;
  function: string;
  expression: string;
  timezone: string | null;
  next: string | null;
  runs: { slot_ms: number; fired_ms: number; request_id: string | null; outcome: string }[];
}

export interface Queue {
  function: string;
  depth: number;
  oldest_age_seconds: number | null;
  dead_letters: number;
}

export interface DeadLetter {
  id: number;
  function: string;
  qualifier: string | null;
  request_id: string;
  attempts: number;
  enqueued_ms: number;
  failed_ms: number;
  payload: string;
  record: unknown;
}
