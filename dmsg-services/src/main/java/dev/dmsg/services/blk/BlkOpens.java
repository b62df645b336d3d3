package dev.dmsg.services.blk;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.services.Access;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkOpen;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.security.SecureRandom;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * BLK_OPEN for a {@link BlkServer} (docs/BLK.md "The wire", "Which export an open gets", and the
 * fence of "Client and failover"): which export an open gets and whether its originator may have
 * it (docs/SECURITY.md §5, docs/IDENTITY.md §5), the keyid table, and a re-open's
 * {@code supersedes=KEYID}, answered only once the superseded open has drained.
 *
 * <p>Threads: each open is touched only on its link's event loop. The keyid tables are
 * concurrent: an open is looked up from its own link's loop only, so a keyid from another link is
 * simply "not here".
 */
final class BlkOpens {
    /** The server's logger: opens and closes are what an operator reads of the BLK server. */
    private static final Logger log = LoggerFactory.getLogger(BlkServer.class);

    private final Access access;
    private final Map<String, ServedExport> exports;
    private final BlkServer.CircuitExports circuitExports;
    private final BlkRefusals refusals;
    /** Live opens by keyid. Entries are added and removed on the owning link's event loop. */
    private final Map<Long, ServedOpen> opens = new ConcurrentHashMap<>();
    /** Closed opens whose requests still run on the device, until {@link ServedOpen#drained}: what a re-open waits for. */
    private final Map<Long, ServedOpen> draining = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();

    BlkOpens(Access access, Map<String, ServedExport> exports, BlkServer.CircuitExports circuitExports,
             BlkRefusals refusals) {
        this.access = access;
        this.exports = exports;
        this.circuitExports = circuitExports;
        this.refusals = refusals;
    }

    /** Live opens on all exports. */
    int count() {
        return opens.size();
    }

    /** The live open {@code keyid} names, or null. */
    ServedOpen get(long keyid) {
        return opens.get(keyid);
    }

    TransactionHandler accept(Transaction txn, Message create) {
        ServedOpen[] open = new ServedOpen[1];
        return (t, m) -> {
            if (m.isCreate()) {
                open[0] = open(t, m);
            }
            if (m.isDelete()) {
                if (open[0] != null) {
                    forget(open[0], m.error() == Dmsg.ERR_LOSTLINK && m.isAbort() ? "lost" : "closed by the peer");
                }
                t.reply(0); // nothing if our side is already closed (a refusal, or a dead circuit)
            }
        };
    }

    /** The open's answer: a live {@link ServedOpen}, or null after a refusal (sent). */
    private ServedOpen open(Transaction t, Message m) {
        Link link = t.link();
        long circuit = t.circuit();
        BlkOpen req = m.ext() instanceof BlkOpen o ? o : null;
        int modes = req == null ? 0 : req.modes();
        if (m.isDelete()) {
            refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "BLK_OPEN with DELETE: an open must stay open");
            return null;
        }
        if (req == null || (modes & ~(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR)) != 0
                || (modes & (Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR)) == 0) {
            refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0, String.format("modes %x: must be RD (1) and/or WR (2)", modes));
            return null;
        }
        boolean write = (modes & Dmsg.BLKOPEN_WR) != 0;
        String wanted = "";
        long supersedes = 0;
        for (String word : (m.auxBytes() == 0 ? "" : m.auxString()).trim().split("\\s+")) {
            if (word.startsWith(BlkServer.SUPERSEDES)) {
                try {
                    supersedes = Long.parseUnsignedLong(word.substring(BlkServer.SUPERSEDES.length()), 16);
                } catch (NumberFormatException ex) {
                    refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "BLK_OPEN aux: bad " + BlkRefusals.clip(word));
                    return null;
                }
            } else if (!word.isEmpty()) {
                wanted = word;
            }
        }
        if (!access.allowsBlk(link, circuit, write)) {
            // docs/SECURITY.md §5: counted on the link (which logs it), answered PERM, the link stays up
            link.denied("BLK_OPEN " + modeWord(modes) + (wanted.isEmpty() ? "" : " of '" + wanted + "'") + " from "
                + access.who(link, circuit));
            refusals.counted();
            BlkRefusals.send(t, Dmsg.ERR_PERM, 0, 0, write ? "open for writing needs admin, member, or a client with blk-rw"
                : "open needs admin, member, or a client with blk-read");
            return null;
        }
        String onCircuit = circuit == 0 ? null : circuitExports.exportOf(link, circuit);
        String name;
        if (onCircuit != null) {
            if (!wanted.isEmpty() && !wanted.equals(onCircuit)) {
                refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0,
                    "circuit is to export '" + onCircuit + "', not '" + wanted + "'");
                return null;
            }
            name = onCircuit;
        } else if (!wanted.isEmpty()) {
            name = wanted;
        } else if (exports.size() == 1) {
            name = exports.keySet().iterator().next();
        } else {
            refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "which export? name it in the BLK_OPEN aux");
            return null;
        }
        ServedExport e = exports.get(name);
        if (e == null) {
            refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "no export '" + name + "' here");
            return null;
        }
        Access.Principal who = access.principal(link, circuit);
        if (!e.acl.admits(who)) {
            // docs/IDENTITY.md §5: the originator must be on the export's list (admins always are)
            link.denied("BLK_OPEN of export '" + name + "' from " + who.describe() + ": not on its list (" + e.acl.describe()
                + ")");
            e.byOriginator.of(who.name()).refused.increment();
            refusals.refuse(t, e, Dmsg.ERR_PERM, 0, 0, "export '" + name + "' admits " + e.acl.describe() + " only");
            return null;
        }
        if (write && e.device.readOnly()) {
            refusals.refuse(t, e, Dmsg.ERR_PERM, 0, 0, "export '" + name + "' is read-only");
            return null;
        }
        long keyid;
        ServedOpen o;
        do {
            keyid = random.nextLong();
            o = new ServedOpen(keyid, e, modes, t);
        } while (keyid == 0 || opens.putIfAbsent(keyid, o) != null);
        e.opens.incrementAndGet();
        o.who = e.byOriginator.of(who.name());
        o.who.opens.increment();
        log.info("BLK open {} of export {} ({}) by {}", Long.toHexString(keyid), name, modeWord(modes), who.describe());
        BlkError answer = new BlkError(keyid, 0, "");
        ServedOpen old = supersedes == 0 ? null : opens.getOrDefault(supersedes, draining.get(supersedes));
        if (old == null || old.export != e) {
            t.send(Dmsg.BLK_ERROR, 0, answer, null); // CREATE|REPLY, error 0; stays open
            return o;
        }
        // A re-open after failover (docs/BLK.md "Failover"): the old keyid dies now, its queued
        // requests are dropped, and the answer waits until its running ones are done — so nothing
        // sent under the old keyid (a write still crossing a dying link) lands after a later write
        // sent under the new one.
        onLoopOf(old, () -> supersede(old));
        ServedOpen fresh = o;
        int waitSeconds = BlkServer.DRAIN_WAIT_SECONDS;
        old.drained.copy().orTimeout(waitSeconds, TimeUnit.SECONDS).whenComplete((v, err) -> link.execute(() -> {
            if (fresh.closed || !t.state().sendOpen()) {
                return;
            }
            if (err != null) {
                forget(fresh, "refused: the superseded open did not drain");
                refusals.refuse(t, e, Dmsg.ERR_IO, 0, 0, String.format("open %016x still has requests running after %d s",
                    old.keyid, waitSeconds));
                return;
            }
            t.send(Dmsg.BLK_ERROR, 0, answer, null);
        }));
        return o;
    }

    private static void onLoopOf(ServedOpen o, Runnable task) {
        try {
            o.txn.link().execute(task);
        } catch (RuntimeException closing) {
            task.run(); // the node is closing: nothing else runs for that link any more
        }
    }

    /** Ends {@code o} for a re-open: forgotten, its queue dropped and refused. Its link's event loop. */
    private void supersede(ServedOpen o) {
        forget(o, "superseded by a re-open");
        for (ServedRequest r; (r = o.queued.poll()) != null; ) {
            if (!r.dropped) {
                r.drop();
                BlkRefusals.send(r.txn, Dmsg.ERR_LOSTLINK, r.io.keyid(), r.op == Dmsg.BLK_FLUSH ? 0 : r.io.bytes(),
                    "superseded by a re-open");
            }
        }
        drainedIfIdle(o);
    }

    /** Marks {@code o} drained when it is closed and nothing of it runs. Its link's event loop. */
    void drainedIfIdle(ServedOpen o) {
        if (o.closed && o.inFlight == 0) {
            draining.remove(o.keyid, o);
            o.drained.complete(null);
        }
    }

    /** The open's transaction closed: its keyid is dead from now on. Queued requests still run if their peer waits. */
    private void forget(ServedOpen o, String why) {
        if (o.closed) {
            return;
        }
        o.closed = true;
        opens.remove(o.keyid, o);
        draining.put(o.keyid, o);
        o.export.opens.decrementAndGet();
        log.debug("BLK open {} of export {} {}; {} in flight, {} queued", Long.toHexString(o.keyid), o.export.name, why,
            o.inFlight, o.queued.size());
        drainedIfIdle(o);
    }

    private static String modeWord(int modes) {
        return ((modes & Dmsg.BLKOPEN_RD) != 0 ? "RD" : "") + ((modes & Dmsg.BLKOPEN_WR) != 0 ? "WR" : "");
    }
}
