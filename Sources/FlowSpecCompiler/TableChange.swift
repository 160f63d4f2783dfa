/// The difference between an installed table and its next version, as the messages of one
/// batch need it: rules deleted (by comment) and inserted (before a kept rule), sets and objects
/// created and deleted, elements added to and deleted from kept sets. `IncrementalTable` makes
/// it for merged tables, `TableChange.plan(from:to:)` for any table of the compiler's forms;
/// FlowSpecNetlink's `NftConnection.apply(_:over:)` sends it.
public struct TableChange: Sendable {
    public struct Insert: Sendable {
        public var rule: NftRule
        /// The comment of the kept rule it goes before (its first rule, for a route with
        /// several); nil: appended at the end of the chain.
        public var before: String?
    }

    /// A named object by name and type, as a delete message names it.
    public struct ObjectReference: Sendable, Hashable {
        public var name: String
        public var type: NftObjectType
        public init(name: String, type: NftObjectType) { self.name = name; self.type = type }
        public init(_ object: NftObject) { self.init(name: object.name, type: object.type) }
    }

    public var table: String
    public var chain: String
    /// Comments of the rules deleted: a route identity (all of the route's rules), or
    /// `merge <set>`.
    public var deletedRules: [String] = []
    /// New rules in chain order.
    public var insertedRules: [Insert] = []
    /// New sets with all their elements.
    public var newSets: [NftSet] = []
    public var deletedSets: [String] = []
    /// Per kept set: its definition with just the elements added.
    public var addedElements: [NftSet] = []
    /// Per kept set: its definition with just the elements deleted, as they were.
    public var removedElements: [NftSet] = []
    public var newObjects: [NftObject] = []
    /// The objects deleted (a delete names an object, it needs no more of it).
    public var deletedObjects: [ObjectReference] = []

    public init(table: String, chain: String) { self.table = table; self.chain = chain }

    public var isEmpty: Bool {
        deletedRules.isEmpty && insertedRules.isEmpty && newSets.isEmpty && deletedSets.isEmpty
            && addedElements.isEmpty && removedElements.isEmpty && newObjects.isEmpty && deletedObjects.isEmpty
    }

    public var addedElementCount: Int { addedElements.reduce(0) { $0 + $1.elements.count } }
    public var removedElementCount: Int { removedElements.reduce(0) { $0 + $1.elements.count } }
}
