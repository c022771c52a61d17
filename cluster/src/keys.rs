//! Key names. Every key of a range (and of the broadcast set) carries the same hash tag, so a
//! Redis Cluster keeps them on one node and one Lua script may touch them all.

/// Where a subscription lives: a range of slots, or the broadcast set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Home {
    Range(u16),
    Broadcast,
}

#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys { prefix: prefix.to_string() }
    }

    fn tag(&self, home: Home) -> String {
        match home {
            Home::Range(r) => format!("{{{}.r{r}}}", self.prefix),
            Home::Broadcast => format!("{{{}.b}}", self.prefix),
        }
    }

    /// Hash: id → subscription record (JSON).
    pub fn subs(&self, home: Home) -> String {
        format!("{}:subs", self.tag(home))
    }
    /// Stream of adds and removes of `subs`, in the order they happened.
    pub fn changes(&self, home: Home) -> String {
        format!("{}:changes", self.tag(home))
    }
    /// Stream of what fired or expired.
    pub fn out(&self, home: Home) -> String {
        format!("{}:out", self.tag(home))
    }
    /// Stream of the range's events, read through the consumer group [`GROUP`].
    pub fn events(&self, range: u16) -> String {
        format!("{}:events", self.tag(Home::Range(range)))
    }
    /// The worker that holds the range, with an expiry.
    pub fn lease(&self, range: u16) -> String {
        format!("{}:lease", self.tag(Home::Range(range)))
    }
    /// Hash: `ranges` and `routes`, written once by whoever comes first.
    pub fn meta(&self) -> String {
        format!("{{{}.meta}}", self.prefix)
    }
    /// Sorted set: worker id → when its heartbeat runs out (epoch ms).
    pub fn workers(&self) -> String {
        format!("{{{}.workers}}", self.prefix)
    }
    /// The home of a registered subscription id (`r7` or `b`), so an id is registered in one
    /// place only, and removal goes straight there. Untagged: ids spread over the nodes.
    pub fn id(&self, id: &str) -> String {
        format!("{}.id:{id}", self.prefix)
    }
    /// A claim: `scope` and `key` taken until it expires.
    pub fn claim(&self, scope: &str, key: &str) -> String {
        format!("{{{}.claim.{scope}}}:{key}", self.prefix)
    }
}

impl Home {
    /// How an id's entry names it: `r7`, or `b` for broadcast.
    pub(crate) fn code(self) -> String {
        match self {
            Home::Range(r) => format!("r{r}"),
            Home::Broadcast => "b".into(),
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Home> {
        match s {
            "b" => Some(Home::Broadcast),
            _ => s.strip_prefix('r')?.parse().ok().map(Home::Range),
        }
    }
}

/// The consumer group of every event stream.
pub(crate) const GROUP: &str = "workers";
