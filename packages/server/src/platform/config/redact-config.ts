import { type Config, type Setting, type SettingKey, settings } from './settings.js';

const hidden = '***';

function redactUrlPassword(value: string): string {
  const url = new URL(value);
  if (url.password !== '') url.password = hidden;
  return url.toString();
}

/** The configuration as it is safe to print: passwords and keys replaced. */
export function redactConfig(config: Config): Record<SettingKey, unknown> {
  const out = {} as Record<SettingKey, unknown>;
  for (const key of Object.keys(settings) as SettingKey[]) {
    const setting: Setting<unknown> = settings[key];
    const value = config[key];
    if (value === undefined || setting.secret === undefined) out[key] = value;
    else if (setting.secret === 'whole') out[key] = hidden;
    else out[key] = redactUrlPassword(String(value));
  }
  return out;
}
