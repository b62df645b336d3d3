package dev.dmsg.services.quorum;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.mesh.CircuitException;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.services.quorum.QuorumClient.Member;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import io.netty.buffer.ByteBuf;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Where a {@link QuorumClient}'s requests go (docs/QUORUM.md §3): our own link to a member that
 * is our neighbour if there is one (circuit 0 — the only way for a client-role node, which may not
 * forge circuits, docs/SECURITY.md §5), else a circuit to the nearest member that answers, found
 * in the span table. One route is kept and shared by all requests; when it is lost the next
 * request makes another, trying members in order until the client's deadline. Shared by the
 * store's client ({@link QuorumClient}) and the lock client (dev.dmsg.services.cac). Thread-safe.
 */
public final class MemberRoute {
    /** Where requests go: a circuit to a member, or circuit 0 of our own link to a neighbour member. */
    public interface Route {
        Transaction open(int cmd, ExtHeader h, ByteBuf aux, TransactionHandler handler);

        boolean isOpen();

        /** Ends the route: a circuit is closed; a link stays (it is not ours to close). */
        void close();
    }

    private final MeshNode mesh;
    private final Supplier<List<Link>> links;
    private final String group;
    private final Duration wait;
    private Route route; // guarded by this
    private String routeMember; // guarded by this
    /** When set, the only member requests go to. */
    private volatile String only;

    public MemberRoute(MeshNode mesh, Supplier<List<Link>> links, String group, Duration wait) {
        this.mesh = mesh;
        this.links = links;
        this.group = group;
        this.wait = wait;
    }

    /** From now on, only member {@code label} ({@code null}: any); a route to another is closed. */
    public synchronized void onlyTo(String label) {
        if (!Objects.equals(label, only)) {
            only = label;
            if (route != null) {
                route.close();
                route = null;
                routeMember = null;
            }
        }
    }

    /** The member requests go to, or {@code null} while there is no open route. */
    public synchronized String member() {
        return route != null && route.isOpen() ? routeMember : null;
    }

    /**
     * The open route, or a new one before {@code deadline}: our link to a neighbour member if
     * there is one, else a circuit to the nearest member that answers.
     */
    public CompletableFuture<Route> routeWithin(long deadline) {
        synchronized (this) {
            if (route != null && route.isOpen()) {
                return CompletableFuture.completedFuture(route);
            }
        }
        CompletableFuture<Route> f = new CompletableFuture<>();
        forge(deadline, f, null);
        return f;
    }

    private void forge(long deadline, CompletableFuture<Route> f, String lastWhy) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            f.completeExceptionally(new QuorumException(Dmsg.ERR_NOLEADER, "quorum " + group + ": no member reachable within "
                + wait.toMillis() + " ms" + (lastWhy == null ? " (none advertised)" : " (" + lastWhy + ")")));
            return;
        }
        String target = only;
        QuorumClient.members(mesh, group)
            .thenApply(l -> target == null ? l : l.stream().filter(m -> m.label().equals(target)).toList())
            .whenComplete((list, e) -> {
            if (e != null || list.isEmpty()) {
                // a guest that just joined learns the spans within a second or so
                CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS).execute(() -> forge(deadline, f, lastWhy));
                return;
            }
            for (Member m : list) {
                Link l = neighbour(m.label());
                if (l != null) {
                    use(new LinkRoute(l), m.label(), f);
                    return;
                }
            }
            tryMembers(list, 0, deadline, f, lastWhy);
        });
    }

    /** Our link to {@code label}, if it is up and its peer is who it says (TLS), else null. */
    private Link neighbour(String label) {
        for (Link l : links.get()) {
            if (l.state() == LinkState.UP && label.equals(l.peerLabel())
                && (l.peer() == null || label.equals(l.peer().name()))) {
                return l;
            }
        }
        return null;
    }

    private void tryMembers(List<Member> list, int i, long deadline, CompletableFuture<Route> f, String lastWhy) {
        if (i >= list.size()) {
            CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS).execute(() -> forge(deadline, f, lastWhy));
            return;
        }
        Member m = list.get(i);
        if (m.hops() == 0) { // ourselves: a node cannot open a circuit to itself
            tryMembers(list, i + 1, deadline, f, lastWhy);
            return;
        }
        long left = Math.max(1, deadline - System.nanoTime());
        mesh.openCircuit(m.key(), Duration.ofNanos(Math.min(left, TimeUnit.SECONDS.toNanos(3)))).whenComplete((c, e) -> {
            if (e != null) {
                Throwable x = QuorumClient.unwrap(e);
                String why = m.label() + ": " + x.getMessage();
                if (x instanceof CircuitException ce && ce.farEndNotWhoItClaims()) {
                    why = m.label() + " is not who its span claims";
                }
                tryMembers(list, i + 1, deadline, f, why);
                return;
            }
            use(new CircuitRoute(c), m.label(), f);
        });
    }

    private void use(Route r, String member, CompletableFuture<Route> f) {
        synchronized (this) {
            if (route != null && route.isOpen() && route != r) {
                r.close(); // another request made one meanwhile
                f.complete(route);
                return;
            }
            route = r;
            routeMember = member;
        }
        f.complete(r);
    }

    public synchronized void drop(Route r) {
        if (route == r) {
            route = null;
            routeMember = null;
        }
        r.close();
    }

    /** A circuit to a member. */
    private record CircuitRoute(CircuitHandle c) implements Route {
        @Override
        public Transaction open(int cmd, ExtHeader h, ByteBuf aux, TransactionHandler handler) {
            return c.open(cmd, h, aux, handler);
        }

        @Override
        public boolean isOpen() {
            return c.isOpen();
        }

        @Override
        public void close() {
            c.close();
        }
    }

    /** Circuit 0 of our link to a neighbour member. */
    private record LinkRoute(Link l) implements Route {
        @Override
        public Transaction open(int cmd, ExtHeader h, ByteBuf aux, TransactionHandler handler) {
            return l.open(cmd, h, aux, handler);
        }

        @Override
        public boolean isOpen() {
            return l.state() == LinkState.UP;
        }

        @Override
        public void close() {
        }
    }

    /** Closes the route (a circuit; a link is not ours to close). */
    public void close() {
        Route r;
        synchronized (this) {
            r = route;
            route = null;
        }
        if (r != null) {
            r.close();
        }
    }
}
