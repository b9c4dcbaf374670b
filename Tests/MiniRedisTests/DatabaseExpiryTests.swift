import Glibc
import MiniRedis
import Testing

@Suite("mini-redis keyspace: expiry")
struct DatabaseExpiryTests {
    @Test("a short expiry ends the key when read and in a purge; an expiry at the end of time never wraps into the past")
    func expiry() throws {
        let database = Database(shardCount: 4)
        database.set(Array("brief".utf8), Array("x".utf8), expiry: .milliseconds(30))
        database.set(Array("purged".utf8), Array("y".utf8), expiry: .milliseconds(30))
        // SET accepts up to Int64.max / 1000 - 1 milliseconds: the deadline saturates.
        database.set(Array("forever".utf8), Array("z".utf8), expiry: .milliseconds(Int64.max / 1000 - 1))
        database.set(Array("plain".utf8), Array("w".utf8))
        #expect(database.get(Array("brief".utf8)) == Array("x".utf8))
        #expect(database.expiringCount == 3)
        usleep(60_000)
        #expect(database.get(Array("brief".utf8)) == nil)
        #expect(database.purgeExpired() == 1)
        #expect(database.get(Array("purged".utf8)) == nil)
        #expect(database.get(Array("forever".utf8)) == Array("z".utf8))
        #expect(database.get(Array("plain".utf8)) == Array("w".utf8))
        #expect(database.expiringCount == 1)
        // A SET without expiry clears the old one.
        database.set(Array("forever".utf8), Array("v".utf8))
        #expect(database.expiringCount == 0)
        #expect(database.count == 2)
    }

}
