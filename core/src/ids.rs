//! Typed ids. Each is a `u32` newtype, so a slot can never be passed where a path or an owner
//! is expected, and every table that holds one holds four bytes.
//!
//! Why 32 bits: a slot is the value stored in roaring posting lists (which are `u32` sets),
//! and the 2^31 live subscriptions the store allows (the index's key table keeps the top bit
//! of a posting handle for itself) are far beyond what one process can hold (each costs
//! about a hundred bytes and more). `u32::MAX` is reserved as "none" in the types that need it, so an `Option` of
//! them costs nothing either.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) struct $name(u32);

        // Not every id type uses every method.
        #[allow(dead_code)]
        impl $name {
            /// "No such id": the one value a live id never takes.
            pub const NONE: $name = $name(u32::MAX);

            /// The id of `index`, or `None` past the width (2^32 − 1 ids).
            pub fn try_new(index: usize) -> Option<$name> {
                u32::try_from(index).ok().filter(|&i| i != u32::MAX).map($name)
            }

            /// Rebuilds an id read back from a posting list or another table of this id.
            pub fn from_u32(raw: u32) -> $name {
                $name(raw)
            }

            pub fn as_u32(self) -> u32 {
                self.0
            }

            pub fn index(self) -> usize {
                self.0 as usize
            }

            pub fn is_none(self) -> bool {
                self == $name::NONE
            }
        }
    };
}

id_type!(
    /// A subscription's place in the store's record slab, and what posting lists hold.
    /// Slots are reused after removal; a record's registration sequence tells reuses apart.
    SlotId
);
id_type!(
    /// An owner (a run) interned to a number, with its own list of subscriptions.
    OwnerId
);
id_type!(
    /// An event name's partition of the index.
    PartitionId
);
id_type!(
    /// A subscription *form*: what many subscriptions share, their event name (partition),
    /// their condition's shape and the template that prints it back.
    FormId
);
id_type!(
    /// A field path indexed in one partition.
    PathId
);
