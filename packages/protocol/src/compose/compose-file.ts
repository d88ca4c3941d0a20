/**
 * A compose file as Flock stores it and devices run it: validated and
 * normalised by `parseCompose`. Every image is pinned by digest, mappings are
 * maps (never `KEY=VALUE` lists), strings are literal (no interpolation is
 * left to do), and the obsolete top-level `version` and `x-` extensions are gone.
 */
export interface ComposeFile {
  /** The compose project name, when the file sets one. */
  name?: string;
  services: Record<string, ComposeService>;
  networks?: Record<string, ComposeNetwork>;
  volumes?: Record<string, ComposeVolume>;
}

export type RestartPolicy =
  'no' | 'always' | 'unless-stopped' | 'on-failure' | `on-failure:${number}`;

export type DependencyCondition =
  'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface ComposeDependency {
  condition: DependencyCondition;
  restart?: boolean;
  required?: boolean;
}

export interface ComposeServiceNetwork {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  priority?: number;
}

/** The long port syntax; the short one stays a string like `"8080:80/tcp"`. */
export interface ComposePortMapping {
  target: number;
  published?: string;
  host_ip?: string;
  protocol?: 'tcp' | 'udp';
  mode?: 'host' | 'ingress';
  name?: string;
  app_protocol?: string;
}

/** The long volume syntax; the short one stays a string like `"data:/var/lib/data:ro"`. */
export interface ComposeVolumeMount {
  type: 'volume' | 'bind' | 'tmpfs';
  source?: string;
  target: string;
  read_only?: boolean;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: 'z' | 'Z' };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: string; mode?: number };
}

export interface ComposeHealthcheck {
  /** `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`; a string becomes CMD-SHELL. */
  test?: string[];
  interval?: string;
  timeout?: string;
  start_period?: string;
  start_interval?: string;
  retries?: number;
  disable?: boolean;
}

export interface ComposeService {
  image: string;
  command?: string | string[];
  entrypoint?: string | string[];
  /** A null value: set from the device's variables, or left unset. */
  environment?: Record<string, string | null>;
  labels?: Record<string, string>;
  ports?: (string | ComposePortMapping)[];
  expose?: string[];
  volumes?: (string | ComposeVolumeMount)[];
  restart?: RestartPolicy;
  depends_on?: Record<string, ComposeDependency>;
  networks?: Record<string, ComposeServiceNetwork>;
  network_mode?: string;
  healthcheck?: ComposeHealthcheck;
  logging?: { driver?: string; options?: Record<string, string> };
  sysctls?: Record<string, string>;
  ulimits?: Record<string, number | { soft: number; hard: number }>;
  extra_hosts?: string[];
  tmpfs?: string[];
  privileged?: boolean;
  read_only?: boolean;
  init?: boolean;
  tty?: boolean;
  stdin_open?: boolean;
  cap_add?: string[];
  cap_drop?: string[];
  devices?: string[];
  device_cgroup_rules?: string[];
  dns?: string[];
  dns_search?: string[];
  group_add?: string[];
  security_opt?: string[];
  hostname?: string;
  domainname?: string;
  working_dir?: string;
  user?: string;
  stop_signal?: string;
  stop_grace_period?: string;
  pid?: string;
  ipc?: string;
  runtime?: string;
  platform?: string;
  shm_size?: string;
  mem_limit?: string;
  mem_reservation?: string;
  memswap_limit?: string;
  cpus?: number;
  cpu_shares?: number;
  oom_score_adj?: number;
}

export interface ComposeNetwork {
  name?: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  labels?: Record<string, string>;
  internal?: boolean;
  enable_ipv6?: boolean;
  attachable?: boolean;
  external?: boolean;
  ipam?: {
    driver?: string;
    config?: { subnet?: string; ip_range?: string; gateway?: string }[];
    options?: Record<string, string>;
  };
}

export interface ComposeVolume {
  name?: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  labels?: Record<string, string>;
  external?: boolean;
}
