import type { Redis } from 'ioredis';

// Atomic on the server so that a lease is renewed or released only by its holder.
const compareAndSetLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

const compareAndDeleteLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

// One script call per batch, answering per member: ZADD's GT flag cannot say
// which members were new, and needs Redis 6.2.
const zaddManyLua = `
local added = {}
for i = 1, #ARGV, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if not current then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
    added[#added + 1] = 1
  else
    if tonumber(ARGV[i]) > tonumber(current) then
      redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
    end
    added[#added + 1] = 0
  end
end
return added`;

const zremIfAtMostLua = `
local removed = {}
for i = 1, #ARGV, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if current and tonumber(current) <= tonumber(ARGV[i]) then
    redis.call('ZREM', KEYS[1], ARGV[i + 1])
    removed[#removed + 1] = 1
  else
    removed[#removed + 1] = 0
  end
end
return removed`;

/** The commands defineCommand adds at run time, which ioredis's types cannot know. */
export interface ScriptCommands {
  flockCompareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<number>;
  flockCompareAndDelete(key: string, expected: string): Promise<number>;
  flockZaddMany(key: string, ...scoresAndMembers: string[]): Promise<number[]>;
  flockZremIfAtMost(key: string, ...scoresAndMembers: string[]): Promise<number[]>;
}

/** Registers the scripts as commands; ioredis sends EVALSHA and loads a script on its first miss. */
export function defineScripts(redis: Redis): void {
  redis.defineCommand('flockCompareAndSet', { lua: compareAndSetLua, numberOfKeys: 1 });
  redis.defineCommand('flockCompareAndDelete', { lua: compareAndDeleteLua, numberOfKeys: 1 });
  redis.defineCommand('flockZaddMany', { lua: zaddManyLua, numberOfKeys: 1 });
  redis.defineCommand('flockZremIfAtMost', { lua: zremIfAtMostLua, numberOfKeys: 1 });
}
