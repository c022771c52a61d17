//! Lua scripts: each keeps a registry and its change stream in step, atomically. All the
//! keys of one script carry one hash tag (see `keys.rs`).

use redis::Script;
use std::sync::LazyLock;

// Every change is appended with `MINID ~ ARGV[n]`: changes older than that (the caller passes
// now minus the retention) are trimmed, so change streams stay small. A worker that has not
// read a change stream for a good part of the retention reloads the registry instead.

/// KEYS: subs, changes. ARGV: id, record, min change id. 1 added, 0 the same record was there, -1 a
/// different one holds the id.
pub(crate) static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[3], '*', 'op', 'add', 'id', ARGV[1], 'rec', ARGV[2])
  return 1
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
return -1
",
    )
});

/// KEYS: subs, changes. ARGV: id, min change id. 1 removed, 0 not there (fired, expired or never added).
pub(crate) static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[2], '*', 'op', 'del', 'id', ARGV[1])
  return 1
end
return 0
",
    )
});

/// Consumes a subscription: deletes its record and appends the outcome, or does nothing if
/// the record is gone. Whoever runs it first wins; nobody else can.
/// KEYS: subs, changes, out. ARGV: id, outcome (`fired` | `expired`), event id, worker, min
/// change id.
pub(crate) static CONSUME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[5], '*', 'op', 'del', 'id', ARGV[1])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1], 'outcome', ARGV[2], 'event', ARGV[3], 'worker', ARGV[4], 'rec', rec)
return 1
",
    )
});

/// KEYS: lease. ARGV: worker, ttl ms. Takes a free lease, or renews the worker's own (a
/// worker that started over after a Redis error gets its ranges back at once). 1 if the
/// worker holds it now, else 0.
pub(crate) static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// KEYS: lease. ARGV: worker, ttl ms. 1 if the worker holds the lease (renewed), else 0.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// KEYS: key. ARGV: value. Deletes the key if it holds the value (a lease its holder lets
/// go, an id's entry once its subscription is gone).
pub(crate) static DELETE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Acknowledges events and deletes them: once handled, nobody needs them again, and the
/// stream stays as long as the backlog. KEYS: events. ARGV: group, entry ids.
pub(crate) static ACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local group = table.remove(ARGV, 1)
redis.call('XACK', KEYS[1], group, unpack(ARGV))
return redis.call('XDEL', KEYS[1], unpack(ARGV))
",
    )
});
