package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.quorum.cac.CacKey;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Compare.Result;
import dev.dmsg.wire.qrm.Compare.Target;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.OpResult;
import dev.dmsg.wire.qrm.Results;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link KvState}: two-phase commit, reservations, conditions and revisions (docs/QUORUM.md §2–§4). */
class KvStateTest {
    static final Txid A = new Txid(0, 1);
    static final Txid B = new Txid(0, 2);

    static Blob b(String s) {
        return Blob.utf8(s);
    }

    static Op put(String k, String v) {
        return Op.put(b(k), b(v));
    }

    static Outcome.Done done(Outcome o) {
        assertThat(o).isInstanceOf(Outcome.Done.class);
        return (Outcome.Done) o;
    }

    static KeyValue get(KvState s, String k) {
        List<KeyValue> kvs = s.read(Batch.of(Op.get(b(k)))).results().results().get(0).kvs();
        return kvs.isEmpty() ? null : kvs.get(0);
    }

    @Test
    void prepareThenCommitAppliesTheBranchAsOneRevision() {
        KvState s = new KvState();
        assertThat(s.prepare(5, A, 0, Batch.of(put("/a", "1"), put("/b", "2")))).isEqualTo(new Outcome.Prepared(true, 5));
        assertThat(s.preparedCount()).isEqualTo(1);
        assertThat(s.revision()).isZero();
        assertThat(get(s, "/a")).as("nothing written before COMMIT").isNull();

        Outcome.Done d = done(s.commit(A));
        assertThat(d.revision()).isEqualTo(1);
        assertThat(d.results()).isEqualTo(new Results(true, List.of(OpResult.put(1), OpResult.put(1))));
        assertThat(get(s, "/a")).isEqualTo(new KeyValue(b("/a"), b("1"), 1, 1, 1));
        assertThat(s.preparedCount()).isZero();
        // keys released: another batch may now prepare them
        assertThat(s.prepare(7, B, 0, Batch.of(put("/a", "x")))).isEqualTo(new Outcome.Prepared(true, 7));
    }

    @Test
    void abortReleasesAndWritesNothing_thenCommitIsNotPrepared() {
        KvState s = new KvState();
        s.prepare(1, A, 0, Batch.of(put("/a", "1")));
        assertThat(s.abort(A, LogEntry.Why.INITIATOR)).isEqualTo(new Outcome.Aborted());
        assertThat(s.commit(A)).isEqualTo(new Outcome.NotPrepared());
        assertThat(s.revision()).isZero();
        assertThat(get(s, "/a")).isNull();
        assertThat(s.prepare(3, B, 0, Batch.of(put("/a", "2")))).isEqualTo(new Outcome.Prepared(true, 3));
    }

    @Test
    void expireThenCommitIsNotPrepared_andExpireAfterCommitIsANoOp() {
        KvState s = new KvState();
        s.prepare(1, A, 0, Batch.of(put("/a", "1")));
        assertThat(s.expire(A)).isEqualTo(new Outcome.Aborted());
        assertThat(s.commit(A)).isEqualTo(new Outcome.NotPrepared());
        assertThat(get(s, "/a")).isNull();

        s.prepare(2, B, 0, Batch.of(put("/a", "2")));
        done(s.commit(B));
        assertThat(s.expire(B)).isEqualTo(new Outcome.NotPrepared());
        assertThat(s.abort(B, LogEntry.Why.LOST_INITIATOR)).isEqualTo(new Outcome.NotPrepared());
        assertThat(get(s, "/a").value()).isEqualTo(b("2"));
        assertThat(s.revision()).isEqualTo(1);
    }

    @Test
    void conflictingPreparesKeyKeyKeyPrefixPrefixPrefix_andTheLoserLeavesNothing() {
        record Case(Op first, Op second, String key) {}
        List<Case> cases = List.of(
            new Case(put("/a/x", "1"), put("/a/x", "2"), "/a/x"),          // key vs key
            new Case(put("/a/x", "1"), Op.deletePrefix(b("/a/")), "/a/"),   // prefix over a reserved key
            new Case(Op.deletePrefix(b("/a/")), put("/a/x", "2"), "/a/x"),  // key under a reserved prefix
            new Case(Op.getPrefix(b("/a/"), 0), Op.deletePrefix(b("/a/b")), "/a/b"), // prefix under prefix
            new Case(Op.getPrefix(b("/a/b"), 0), Op.deletePrefix(b("/a")), "/a"),    // prefix over prefix
            new Case(Op.get(b("/a")), Op.deletePrefix(Blob.EMPTY), ""));             // everything
        for (Case c : cases) {
            KvState s = new KvState();
            assertThat(s.prepare(10, A, 0, Batch.of(c.first()))).isInstanceOf(Outcome.Prepared.class);
            Outcome o = s.prepare(11, B, 0, new Batch(List.of(), List.of(put("/zz", "q"), c.second()), List.of()));
            assertThat(o).as(c.toString()).isEqualTo(new Outcome.Conflict(10, b(c.key())));
            assertThat(s.preparedCount()).isEqualTo(1);
            // the loser reserved nothing: "/zz" is free, and once A goes, all is free
            assertThat(s.prepare(12, new Txid(9, 9), 0, Batch.of(put("/zz", "r")))).isInstanceOf(Outcome.Prepared.class);
            s.abort(A, LogEntry.Why.INITIATOR);
            s.abort(new Txid(9, 9), LogEntry.Why.INITIATOR);
            assertThat(s.prepare(13, B, 0, Batch.of(c.second()))).as(c.toString()).isInstanceOf(Outcome.Prepared.class);
        }
    }

    @Test
    void disjointKeysAndPrefixesDoNotConflict() {
        KvState s = new KvState();
        assertThat(s.prepare(1, A, 0, Batch.of(Op.deletePrefix(b("/a/")), put("/b", "1")))).isInstanceOf(Outcome.Prepared.class);
        // "/a" is not under "/a/", "/a0" sorts after "/a/" but does not start with it, "/b/" is a prefix of nothing reserved
        assertThat(s.prepare(2, B, 0, Batch.of(put("/a", "1"), put("/a0", "2"), Op.getPrefix(b("/b/"), 0))))
            .isInstanceOf(Outcome.Prepared.class);
        assertThat(s.prepare(3, new Txid(1, 1), 0, Batch.of(put("/b", "2")))).isEqualTo(new Outcome.Conflict(1, b("/b")));
    }

    @Test
    void comparedKeysAreReservedToo() {
        KvState s = new KvState();
        s.prepare(1, A, 0, new Batch(List.of(Compare.number(Target.VERSION, b("/guard"), Result.EQUAL, 0)),
            List.of(put("/x", "1")), List.of()));
        assertThat(s.write(Batch.of(put("/guard", "changed")))).isEqualTo(new Outcome.Conflict(1, b("/guard")));
        assertThat(s.revision()).isZero();
    }

    @Test
    void oneBatchMayNestItsOwnKeysAndPrefixes() {
        KvState s = new KvState();
        assertThat(s.prepare(1, A, 0, Batch.of(Op.getPrefix(b("/a"), 0), Op.deletePrefix(b("/a/b")), put("/a/b/c", "1"))))
            .isInstanceOf(Outcome.Prepared.class);
        done(s.commit(A));
        assertThat(s.prepare(2, B, 0, Batch.of(put("/a/q", "1")))).isInstanceOf(Outcome.Prepared.class);
    }

    @Test
    void conditionsOnValueVersionAndRevisions_includingAbsentKeys() {
        KvState s = new KvState();
        done(s.write(Batch.of(put("/k", "m"))));          // rev 1: create 1, mod 1, version 1
        done(s.write(Batch.of(put("/k", "n"))));          // rev 2: create 1, mod 2, version 2
        record C(Compare c, boolean holds) {}
        List<C> cs = List.of(
            new C(Compare.value(b("/k"), Result.EQUAL, b("n")), true),
            new C(Compare.value(b("/k"), Result.NOT_EQUAL, b("n")), false),
            new C(Compare.value(b("/k"), Result.LESS, b("o")), true),
            new C(Compare.value(b("/k"), Result.GREATER, b("m")), true),
            new C(Compare.value(b("/k"), Result.EQUAL, null), false),
            new C(Compare.value(b("/k"), Result.NOT_EQUAL, null), true),
            new C(Compare.number(Target.VERSION, b("/k"), Result.EQUAL, 2), true),
            new C(Compare.number(Target.CREATE_REVISION, b("/k"), Result.EQUAL, 1), true),
            new C(Compare.number(Target.MOD_REVISION, b("/k"), Result.GREATER, 1), true),
            new C(Compare.number(Target.MOD_REVISION, b("/k"), Result.LESS, 2), false),
            // absent keys, as etcd: value absent, version 0, revisions 0
            new C(Compare.value(b("/none"), Result.EQUAL, null), true),
            new C(Compare.value(b("/none"), Result.EQUAL, Blob.EMPTY), false),
            new C(Compare.value(b("/none"), Result.NOT_EQUAL, b("x")), true),
            new C(Compare.value(b("/none"), Result.LESS, b("x")), false),
            new C(Compare.value(b("/none"), Result.GREATER, b("x")), false),
            new C(Compare.number(Target.VERSION, b("/none"), Result.EQUAL, 0), true),
            new C(Compare.number(Target.CREATE_REVISION, b("/none"), Result.EQUAL, 0), true),
            new C(Compare.number(Target.MOD_REVISION, b("/none"), Result.LESS, 1), true),
            // numbers are u64: a huge operand is greater than any revision
            new C(Compare.number(Target.MOD_REVISION, b("/k"), Result.LESS, -1L), true));
        for (C c : cs) {
            Outcome.Done d = done(s.write(new Batch(List.of(c.c()), List.of(Op.get(b("/k"))), List.of(Op.get(b("/none"))))));
            assertThat(d.results().succeeded()).as(c.c().toString()).isEqualTo(c.holds());
        }
        // an empty value is a value, not an absent one
        done(s.write(Batch.of(put("/e", ""))));
        assertThat(done(s.write(new Batch(List.of(Compare.value(b("/e"), Result.EQUAL, Blob.EMPTY)), List.of(), List.of())))
            .results().succeeded()).isTrue();
    }

    @Test
    void failureBranchOfAPrepareIsWhatCommits() {
        KvState s = new KvState();
        Batch cas = new Batch(List.of(Compare.value(b("/lock"), Result.EQUAL, null)),
            List.of(put("/lock", "me")), List.of(Op.get(b("/lock"))));
        done(s.write(Batch.of(put("/lock", "other"))));
        assertThat(s.prepare(4, A, 0, cas)).isEqualTo(new Outcome.Prepared(false, 4));
        Outcome.Done d = done(s.commit(A));
        assertThat(d.results().succeeded()).isFalse();
        assertThat(d.results().results().get(0).kvs().get(0).value()).isEqualTo(b("other"));
        assertThat(d.revision()).as("a GET-only branch changes nothing").isEqualTo(1);
    }

    @Test
    void onePhaseWriteAgainstAPreparedReservation() {
        KvState s = new KvState();
        s.prepare(8, A, 0, Batch.of(Op.deletePrefix(b("/a/"))));
        assertThat(s.write(Batch.of(put("/b", "1"), put("/a/1", "1")))).isEqualTo(new Outcome.Conflict(8, b("/a/1")));
        assertThat(get(s, "/b")).as("nothing of a refused write is applied").isNull();
        assertThat(s.revision()).isZero();
        assertThat(done(s.write(Batch.of(put("/b", "1")))).revision()).isEqualTo(1);
        // the conflict check looks at the branch that runs, not at the other
        Batch other = new Batch(List.of(Compare.value(b("/b"), Result.EQUAL, b("1"))),
            List.of(put("/c", "1")), List.of(put("/a/2", "1")));
        assertThat(done(s.write(other)).revision()).isEqualTo(2);
    }

    @Test
    void revisionRules() {
        KvState s = new KvState();
        assertThat(done(s.write(Batch.of(Op.delete(b("/none")), Op.deletePrefix(b("/p/")), Op.get(b("/x"))))).revision())
            .as("a batch that changes nothing does not advance").isZero();
        Outcome.Done d = done(s.write(Batch.of(put("/p/1", "a"), put("/p/2", "b"), put("/p/1", "c"))));
        assertThat(d.revision()).as("one revision per batch").isEqualTo(1);
        assertThat(get(s, "/p/1")).isEqualTo(new KeyValue(b("/p/1"), b("c"), 1, 1, 2));
        done(s.write(Batch.of(put("/p/2", "b"))));
        assertThat(get(s, "/p/2")).as("a PUT of the same value still changes").isEqualTo(new KeyValue(b("/p/2"), b("b"), 1, 2, 2));
        d = done(s.write(Batch.of(Op.deletePrefix(b("/p/")), Op.delete(b("/none")))));
        assertThat(d.revision()).isEqualTo(3);
        assertThat(d.results().results()).containsExactly(OpResult.deleted(2), OpResult.deleted(0));
        d = done(s.write(Batch.of(put("/p/1", "new"))));
        assertThat(get(s, "/p/1")).as("recreated: counters start again").isEqualTo(new KeyValue(b("/p/1"), b("new"), 4, 4, 1));
        // a prepared batch that is aborted, and a PREPARE, never advance it
        s.prepare(9, A, 0, Batch.of(put("/q", "1")));
        s.abort(A, LogEntry.Why.INITIATOR);
        assertThat(s.revision()).isEqualTo(4);
    }

    @Test
    void getLimitDefaultMaxAndMore() {
        KvState s = new KvState();
        for (int chunk = 0; chunk < 12; chunk++) {
            Op[] ops = new Op[1000];
            for (int i = 0; i < 1000; i++) {
                ops[i] = put(String.format("/k/%05d", chunk * 1000 + i), "");
            }
            done(s.write(Batch.of(ops)));
        }
        done(s.write(Batch.of(put("/l", "after"))));
        OpResult dflt = s.read(Batch.of(Op.getPrefix(b("/k/"), 0))).results().results().get(0);
        assertThat(dflt.kvs()).hasSize(1000);
        assertThat(dflt.more()).isTrue();
        assertThat(dflt.kvs().get(999).key()).isEqualTo(b("/k/00999"));
        OpResult three = s.read(Batch.of(Op.getPrefix(b("/k/0000"), 3))).results().results().get(0);
        assertThat(three.kvs()).extracting(KeyValue::key).containsExactly(b("/k/00000"), b("/k/00001"), b("/k/00002"));
        assertThat(three.more()).isTrue();
        OpResult exact = s.read(Batch.of(Op.getPrefix(b("/k/0000"), 10))).results().results().get(0);
        assertThat(exact.kvs()).hasSize(10);
        assertThat(exact.more()).as("exactly the limit: nothing cut").isFalse();
        // limits above 10,000 are capped; here the 64 KiB reply budget cuts first (38 bytes a kv)
        OpResult max = s.read(Batch.of(Op.getPrefix(b("/k/"), Integer.MAX_VALUE))).results().results().get(0);
        assertThat(max.kvs()).hasSize((KvStore.MAX_RESULTS_BYTES - 4 - 6) / 38);
        assertThat(max.more()).isTrue();
    }

    @Test
    void getIsCutByTheReplyBudgetAtWholeKvs() {
        KvState s = new KvState();
        String big = "v".repeat(30_000);
        done(s.write(Batch.of(put("/b/1", big), put("/b/2", big))));
        done(s.write(Batch.of(put("/b/3", big))));
        OpResult r = s.read(Batch.of(Op.getPrefix(b("/b/"), 0))).results().results().get(0);
        assertThat(r.kvs()).hasSize(2);
        assertThat(r.more()).isTrue();
        // later GETs of a full reply get nothing, with more set; exact GETs too
        List<OpResult> two = s.read(Batch.of(Op.getPrefix(b("/b/"), 0), Op.getPrefix(b("/b/3"), 0), Op.get(b("/b/3"))))
            .results().results();
        assertThat(two.get(1).kvs()).isEmpty();
        assertThat(two.get(1).more()).isTrue();
        assertThat(two.get(2).kvs()).isEmpty();
        assertThat(two.get(2).more()).isTrue();
        // the first kv of a reply is always taken, however large
        String huge = "h".repeat(64_448);
        done(s.write(Batch.of(put("/h", huge))));
        OpResult h = s.read(Batch.of(Op.getPrefix(b("/h"), 0))).results().results().get(0);
        assertThat(h.kvs()).hasSize(1);
        assertThat(h.more()).isFalse();
    }

    @Test
    void readRefusesWrites() {
        KvState s = new KvState();
        assertThatThrownBy(() -> s.read(Batch.of(put("/a", "1"))))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PUT");
    }

    @Test
    void preparedCapGivesLimitAndRecordsNothing() {
        KvState s = new KvState(2);
        s.prepare(1, A, 0, Batch.of(put("/1", "")));
        s.prepare(2, B, 0, Batch.of(put("/2", "")));
        assertThat(s.prepare(3, new Txid(3, 3), 0, Batch.of(put("/3", "")))).isEqualTo(new Outcome.Limit());
        assertThat(s.preparedCount()).isEqualTo(2);
        s.commit(A);
        assertThat(s.prepare(4, new Txid(3, 3), 0, Batch.of(put("/3", "")))).isEqualTo(new Outcome.Prepared(true, 4));
        assertThat(new KvState().prepared()).isEmpty();
        assertThat(KvState.DEFAULT_MAX_PREPARED).isEqualTo(4096);
    }

    @Test
    void aRepeatedPrepareOfTheSameTxidGetsItsFirstAnswer() {
        KvState s = new KvState();
        assertThat(s.prepare(1, A, 0, Batch.of(put("/a", "")))).isEqualTo(new Outcome.Prepared(true, 1));
        assertThat(s.prepare(2, A, 0, Batch.of(put("/a", "")))).isEqualTo(new Outcome.Prepared(true, 1));
        assertThat(s.preparedCount()).isEqualTo(1);
    }

    @Test
    void leaseIsNormalised() {
        KvState s = new KvState();
        s.prepare(1, A, 0, Batch.of(put("/a", "")));
        s.prepare(2, B, 1234, Batch.of(put("/b", "")));
        assertThat(s.prepared()).extracting(KvState.Prepared::leaseMs).containsExactly(KvState.DEFAULT_LEASE_MS, 1234);
    }

    /** docs/CAC.md §6: lock(KEY) = TOKEN holds only while that grant is held exclusively and covers KEY. */
    @Test
    void aLockCompareHoldsOnlyWhileItsGrantIsHeldExclusively() {
        KvState s = new KvState();
        LockTable.Home home = new LockTable.Home("m", 1);
        s.apply(1, new LogEntry.Lock(new CacEntry.Acquire(9, new LockTable.Acquire(new LockTable.Owner("a", 0), home,
            CacKey.of("/vol"), CacDomain.TREE, CacState.EXCLUSIVE, 0, 0))));
        Batch guarded = new Batch(List.of(Compare.number(Target.LOCK, b("/vol/disk"), Result.EQUAL, 1)),
            List.of(put("/data", "from a")), List.of());
        assertThat(done(s.write(guarded)).results().succeeded()).as("TREE on /vol covers /vol/disk").isTrue();
        Batch stale = new Batch(List.of(Compare.number(Target.LOCK, b("/vol/disk"), Result.EQUAL, 7)),
            List.of(put("/data", "from a stale holder")), List.of());
        assertThat(done(s.write(stale)).results().succeeded()).as("not the token granted").isFalse();
        Batch elsewhere = new Batch(List.of(Compare.number(Target.LOCK, b("/other"), Result.EQUAL, 1)),
            List.of(put("/data", "x")), List.of());
        assertThat(done(s.write(elsewhere)).results().succeeded()).as("the lock does not cover /other").isFalse();
        Batch notAPath = new Batch(List.of(Compare.number(Target.LOCK, b("vol"), Result.NOT_EQUAL, 1)),
            List.of(put("/elsewhere", "y")), List.of());
        assertThat(done(s.write(notAPath)).results().succeeded()).as("no lock covers a key that is not a path").isTrue();

        s.apply(2, new LogEntry.Lock(new CacEntry.Change(1, CacState.SHARED)));
        assertThat(done(s.write(guarded)).results().succeeded()).as("shared: not a writer's token any more").isFalse();
        s.apply(3, new LogEntry.Lock(new CacEntry.Release(1)));
        assertThat(done(s.write(guarded)).results().succeeded()).isFalse();
        assertThat(get(s, "/data").value().utf8()).isEqualTo("from a");

        assertThat(s.prepare(10, A, 0, guarded)).as("two phases could straddle a revocation")
            .isEqualTo(new Outcome.Invalid("a lock compare needs a one-phase write (docs/CAC.md §6)"));
        assertThat(s.preparedCount()).isZero();
    }
}
