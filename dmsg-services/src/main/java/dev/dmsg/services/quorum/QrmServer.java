package dev.dmsg.services.quorum;

import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.Access;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import io.netty.buffer.Unpooled;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A member's front door (docs/QUORUM.md §3, §6): the acceptors of QRM_COMMIT, QRM_READ, QRM_WATCH
 * and QRM_ADMIN. Each request is checked in the same order — its header, the group, the
 * originator's rights (the circuit's originator, not the neighbour: {@link Access}), its budget —
 * and refused with the specific error at the first that fails; then it goes to the
 * {@link CommitCoordinator}, a read, {@link WatchServer} or {@link AdminServer}.
 */
public final class QrmServer {
    private static final Logger log = LoggerFactory.getLogger(QrmServer.class);

    private final Access access;
    private final Map<String, GroupEngine> groups;
    private final WatchServer watches;
    private final AdminServer admin;
    private final QrmBudgets budgets;
    private final Map<String, AtomicLong> refusals = new ConcurrentHashMap<>();

    QrmServer(Access access, Map<String, GroupEngine> groups, WatchServer watches, AdminServer admin, QrmBudgets budgets) {
        this.access = access;
        this.groups = Map.copyOf(groups);
        this.watches = watches;
        this.admin = admin;
        this.budgets = budgets;
    }

    /** Registers the QRM acceptors in {@code services}. */
    public void register(Services services) {
        services.accept(Dmsg.QRM_COMMIT, (t, m) -> accept(t, m, Need.WRITE));
        services.accept(Dmsg.QRM_READ, (t, m) -> accept(t, m, Need.READ));
        services.accept(Dmsg.QRM_WATCH, (t, m) -> accept(t, m, Need.READ));
        services.accept(Dmsg.QRM_ADMIN, (t, m) -> accept(t, m, Need.READ)); // a change needs admin: AdminServer
    }

    enum Need {
        READ, WRITE
    }

    /** Refusals by error name, for the status document. */
    Map<String, Long> refusals() {
        Map<String, Long> out = new TreeMap<>();
        refusals.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    long budgetRefusals() {
        return budgets.refused();
    }

    private TransactionHandler accept(Transaction t, Message create, Need need) {
        int cmd = create.baseCmd();
        QrmHeader h = create.ext() instanceof QrmHeader q ? q : null;
        String problem = h == null ? "no QRM header" : h.problem();
        if (problem != null) {
            return refused(t, cmd, "", Dmsg.ERR_PARAM, problem);
        }
        if (h.phase() < QrmHeader.PREPARE || h.phase() > QrmHeader.RAFT) {
            return refused(t, cmd, "", Dmsg.ERR_NOSUPP, "QRM phase " + h.phase() + " is unknown"); // §3.2: NOSUPP
        }
        int opening = opening(cmd);
        if (h.phase() != opening) {
            return refused(t, cmd, h.group(), Dmsg.ERR_PARAM, "a " + name(cmd) + " opens with "
                + QrmHeader.phaseName(opening) + ", not " + QrmHeader.phaseName(h.phase()));
        }
        GroupEngine g = groups.get(h.group());
        if (g == null) {
            return refused(t, cmd, h.group(), Dmsg.ERR_NOSUPP, "this node is not a member of quorum group '" + h.group() + "'");
        }
        Access.Principal who = access.principal(t.link(), t.circuit());
        if (!allowed(who, need)) {
            return refused(t, cmd, h.group(), Dmsg.ERR_PERM, who.describe() + " may not "
                + (need == Need.WRITE ? "write to" : "read") + " quorum group " + h.group()
                + (who.role() == Role.CLIENT ? " (needs the " + (need == Need.WRITE ? "kv-write" : "kv-read") + " grant)" : ""));
        }
        String originator = who.fingerprint() + "/" + who.name();
        switch (cmd) {
            case Dmsg.QRM_COMMIT:
                return commit(t, create, h, g, originator);
            case Dmsg.QRM_READ:
                return read(t, create, h, g, originator);
            case Dmsg.QRM_WATCH:
                return watches.open(t, create, h, g, originator, budgets);
            case Dmsg.QRM_ADMIN:
                return admin.handle(t, create, h, g, who);
            default:
                return refused(t, cmd, h.group(), Dmsg.ERR_NOSUPP, "unknown QRM command");
        }
    }

    /** The phase a request of {@code cmd} opens with (docs/QUORUM.md §3.2, §3.4, §7). */
    private static int opening(int cmd) {
        return switch (cmd) {
            case Dmsg.QRM_COMMIT -> QrmHeader.PREPARE;
            case Dmsg.QRM_ADMIN -> QrmHeader.ADMIN;
            default -> QrmHeader.READ; // QRM_READ, QRM_WATCH
        };
    }

    private static String name(int cmd) {
        return switch (cmd) {
            case Dmsg.QRM_COMMIT -> "QRM_COMMIT";
            case Dmsg.QRM_READ -> "QRM_READ";
            case Dmsg.QRM_WATCH -> "QRM_WATCH";
            default -> "QRM_ADMIN";
        };
    }

    static boolean allowed(Access.Principal who, Need need) {
        if (who.role() == Role.ADMIN || who.role() == Role.MEMBER) {
            return true;
        }
        return who.role() == Role.CLIENT
            && (who.grants() & (need == Need.WRITE ? Grants.KV_WRITE : Grants.KV_READ)) != 0;
    }

    private TransactionHandler commit(Transaction t, Message create, QrmHeader h, GroupEngine g, String originator) {
        Batch b;
        try {
            b = QrmCodec.decodeBatch(create.aux() == null ? Unpooled.EMPTY_BUFFER : create.aux());
        } catch (QrmFormatException e) {
            return refused(t, Dmsg.QRM_COMMIT, h.group(), Dmsg.ERR_PARAM, e.getMessage());
        }
        boolean twoPhase = !h.has(QrmHeader.ONE_PHASE);
        if (!budgets.take(originator, QrmBudgets.Kind.REQUESTS)) {
            return refused(t, Dmsg.QRM_COMMIT, h.group(), Dmsg.ERR_LIMIT,
                budgets.limit(QrmBudgets.Kind.REQUESTS) + " requests of this originator in flight here");
        }
        if (twoPhase && !budgets.take(originator, QrmBudgets.Kind.PREPARED)) {
            budgets.release(originator, QrmBudgets.Kind.REQUESTS);
            return refused(t, Dmsg.QRM_COMMIT, h.group(), Dmsg.ERR_LIMIT,
                budgets.limit(QrmBudgets.Kind.PREPARED) + " prepared batches of this originator here");
        }
        return new CommitCoordinator(g, h, b, () -> {
            budgets.release(originator, QrmBudgets.Kind.REQUESTS);
            if (twoPhase) {
                budgets.release(originator, QrmBudgets.Kind.PREPARED);
            }
        });
    }

    private TransactionHandler read(Transaction t, Message create, QrmHeader h, GroupEngine g, String originator) {
        Batch b;
        try {
            b = QrmCodec.decodeBatch(create.aux() == null ? Unpooled.EMPTY_BUFFER : create.aux());
        } catch (QrmFormatException e) {
            return refused(t, Dmsg.QRM_READ, h.group(), Dmsg.ERR_PARAM, e.getMessage());
        }
        if (!b.readOnly() || !b.compares().isEmpty()) {
            return refused(t, Dmsg.QRM_READ, h.group(), Dmsg.ERR_PARAM, "a QRM_READ batch has GETs only and no compares");
        }
        if (!budgets.take(originator, QrmBudgets.Kind.REQUESTS)) {
            return refused(t, Dmsg.QRM_READ, h.group(), Dmsg.ERR_LIMIT,
                budgets.limit(QrmBudgets.Kind.REQUESTS) + " requests of this originator in flight here");
        }
        g.read(b, h.has(QrmHeader.SERIALIZABLE)).whenComplete((d, e) -> {
            budgets.release(originator, QrmBudgets.Kind.REQUESTS);
            if (e != null) {
                Throwable x = QuorumClient.unwrap(e);
                int err = x instanceof QuorumException q ? q.error() : Dmsg.ERR_IO;
                count(err);
                Refusal.send(t, Dmsg.QRM_READ, h.group(), err, String.valueOf(x.getMessage()));
                return;
            }
            byte[] aux = QrmCodec.encodeResults(d.results(), QrmCodec.MAX_MESSAGE_BYTES);
            Refusal.answer(t, Dmsg.QRM_READ | Dmsg.DELETE, QrmHeader.of(QrmHeader.READ, h.group()).withRevision(d.revision()),
                Unpooled.wrappedBuffer(aux));
        });
        return (tx, m) -> {
            if (m.isDelete() && !m.isCreate()) {
                tx.close(); // the reader closed (or was lost) first: the answer, if any, is discarded
            }
        };
    }

    private TransactionHandler refused(Transaction t, int cmd, String group, int error, String reason) {
        count(error);
        log.debug("quorum: refused {} on {}: {}", ErrorCode.nameOf(error), t.link().peerLabel(), reason);
        Refusal.send(t, cmd, group, error, reason);
        return (tx, m) -> { };
    }

    private void count(int error) {
        refusals.computeIfAbsent(ErrorCode.nameOf(error), k -> new AtomicLong()).incrementAndGet();
    }
}
