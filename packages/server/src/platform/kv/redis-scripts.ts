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

// Many hash writes as one command: a MULTI of two commands per hash costs
// the client far more than the server. KEYS are the hashes; ARGV holds, per
// hash, its TTL ('' for none), its version field ('' for none) and value,
// its field count and the fields. As in a MULTI, a hash of the wrong type
// fails alone and the others still land. Answers 1 per hash written, 0 per
// versioned write older than the hash.
const hsetManyLua = `
local failure
local written = {}
local a = 1
for i = 1, #KEYS do
  local ttl, vfield, vvalue = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local n = tonumber(ARGV[a + 3])
  a = a + 4
  local ok = true
  if vfield ~= '' then
    local current = redis.pcall('HGET', KEYS[i], vfield)
    if type(current) == 'table' and current.err then
      failure = failure or current.err
      ok = false
    elseif current and tonumber(current) and tonumber(current) > tonumber(vvalue) then
      ok = false
    end
  end
  if ok and n > 0 then
    local reply = redis.pcall('HSET', KEYS[i], unpack(ARGV, a, a + 2 * n - 1))
    if type(reply) == 'table' and reply.err then
      failure = failure or reply.err
      ok = false
    end
  end
  a = a + 2 * n
  if ok and vfield ~= '' then redis.call('HSET', KEYS[i], vfield, vvalue) end
  if ok and ttl ~= '' then redis.call('PEXPIRE', KEYS[i], ttl) end
  written[i] = ok and 1 or 0
end
if failure then return redis.error_reply(failure) end
return written`;

// hsetManyLua for writes alike in all but their values, as the ingester's
// heartbeats are: the TTL, version field and field names go once, so each
// hash costs its key, version and values, and the client encodes a third of
// the arguments. ARGV: TTL ('' for none), version field ('' for none), field
// count, field names; then per hash its version (when versioned) and values.
const hsetUniformLua = `
local ttl, vfield, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local versioned = vfield ~= ''
local failure
local written = {}
local a = 4 + n
local pairs = {}
for i = 1, #KEYS do
  local vvalue
  if versioned then
    vvalue = ARGV[a]
    a = a + 1
  end
  local ok = true
  if versioned then
    local current = redis.pcall('HGET', KEYS[i], vfield)
    if type(current) == 'table' and current.err then
      failure = failure or current.err
      ok = false
    elseif current and tonumber(current) and tonumber(current) > tonumber(vvalue) then
      ok = false
    end
  end
  if ok and n > 0 then
    for f = 1, n do
      pairs[2 * f - 1] = ARGV[3 + f]
      pairs[2 * f] = ARGV[a + f - 1]
    end
    local reply = redis.pcall('HSET', KEYS[i], unpack(pairs, 1, 2 * n))
    if type(reply) == 'table' and reply.err then
      failure = failure or reply.err
      ok = false
    end
  end
  a = a + n
  if ok and versioned then redis.call('HSET', KEYS[i], vfield, vvalue) end
  if ok and ttl ~= '' then redis.call('PEXPIRE', KEYS[i], ttl) end
  written[i] = ok and 1 or 0
end
if failure then return redis.error_reply(failure) end
return written`;

/** The commands defineCommand adds at run time, which ioredis's types cannot know. */
export interface ScriptCommands {
  flockCompareAndSet(key: string, expected: string, value: string, ttlMs: number): Promise<number>;
  flockCompareAndDelete(key: string, expected: string): Promise<number>;
  flockZaddMany(key: string, ...scoresAndMembers: string[]): Promise<number[]>;
  flockZremIfAtMost(key: string, ...scoresAndMembers: string[]): Promise<number[]>;
  flockHsetMany(keyCount: number, ...keysThenArgs: (string | Buffer)[]): Promise<number[]>;
  flockHsetUniform(keyCount: number, ...keysThenArgs: (string | Buffer)[]): Promise<number[]>;
}

/** Registers the scripts as commands; ioredis sends EVALSHA and loads a script on its first miss. */
export function defineScripts(redis: Redis): void {
  redis.defineCommand('flockCompareAndSet', { lua: compareAndSetLua, numberOfKeys: 1 });
  redis.defineCommand('flockCompareAndDelete', { lua: compareAndDeleteLua, numberOfKeys: 1 });
  redis.defineCommand('flockZaddMany', { lua: zaddManyLua, numberOfKeys: 1 });
  redis.defineCommand('flockZremIfAtMost', { lua: zremIfAtMostLua, numberOfKeys: 1 });
  redis.defineCommand('flockHsetMany', { lua: hsetManyLua });
  redis.defineCommand('flockHsetUniform', { lua: hsetUniformLua });
}
