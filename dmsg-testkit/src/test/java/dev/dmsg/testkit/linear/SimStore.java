package dev.dmsg.testkit.linear;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.TreeMap;

/**
 * A register store driven by a seeded scheduler instead of threads, so that a history — and a
 * bug in it — is the same on every run. Each tick the scheduler moves one client one step:
 * invoke, take effect, complete. The store keeps every version of every key; with a
 * {@link Fault}, part of it works from a replica that lags {@code lagTicks} behind.
 */
final class SimStore {
    enum Fault {
        /** A linearizable register. */
        NONE,
        /** Reads are served from the lagging replica (a follower reading its local state). */
        STALE_READS,
        /** A compare-and-set compares against the lagging replica, then writes the primary: a lost update. */
        LOST_UPDATE_CAS
    }

    private enum Phase { IDLE, INVOKED, APPLIED }

    private static final class Client {
        Phase phase = Phase.IDLE;
        History.Call call;
        Op op;
        Object result;
        boolean apply;
        int end; // 0: ok, 1: unknown, 2: fail
    }

    private final Random rnd;
    private final int keys;
    private final Fault fault;
    private final int lagTicks;
    private final double unknownRate;
    private final double failRate;
    private final Client[] clients;
    private final Map<String, TreeMap<Long, Object>> versions = new HashMap<>();
    private long tick;
    private long nextValue = 1;
    private final History history = new History(() -> tick);

    SimStore(long seed, int clients, int keys, Fault fault, int lagTicks, double unknownRate, double failRate) {
        this.rnd = new Random(seed);
        this.keys = keys;
        this.fault = fault;
        this.lagTicks = lagTicks;
        this.unknownRate = unknownRate;
        this.failRate = failRate;
        this.clients = new Client[clients];
        for (int i = 0; i < clients; i++) {
            this.clients[i] = new Client();
        }
    }

    /** Runs until {@code ops} operations were invoked and all completed; returns the history. */
    History run(int ops) {
        int invoked = 0;
        int busy = 0;
        while (invoked < ops || busy > 0) {
            tick++;
            int id = rnd.nextInt(clients.length);
            Client c = clients[id];
            switch (c.phase) {
                case IDLE -> {
                    if (invoked == ops) {
                        continue;
                    }
                    invoked++;
                    busy++;
                    c.op = nextOp();
                    double fate = rnd.nextDouble();
                    c.end = fate < failRate ? 2 : fate < failRate + unknownRate ? 1 : 0;
                    c.apply = c.end == 0 || (c.end == 1 && rnd.nextBoolean());
                    c.call = history.invoke(id, c.op);
                    c.phase = Phase.INVOKED;
                }
                case INVOKED -> {
                    if (c.apply) {
                        c.result = apply(c.op);
                    }
                    c.phase = Phase.APPLIED;
                }
                case APPLIED -> {
                    switch (c.end) {
                        case 0 -> c.call.ok(c.result);
                        case 1 -> c.call.unknown();
                        default -> c.call.fail();
                    }
                    busy--;
                    c.phase = Phase.IDLE;
                }
                default -> throw new IllegalStateException("client " + id + " in " + c.phase);
            }
        }
        return history;
    }

    private Op nextOp() {
        String key = "k" + rnd.nextInt(keys);
        double kind = rnd.nextDouble();
        if (kind < 0.4) {
            return RegisterModel.read(key);
        }
        long value = nextValue++;
        if (kind < 0.7) {
            return RegisterModel.write(key, value);
        }
        // Mostly the value the key holds now, so that many swaps succeed.
        Object expected = rnd.nextDouble() < 0.7 ? primary(key) : (Object) (long) rnd.nextInt((int) value);
        return RegisterModel.cas(key, expected, value);
    }

    private Object apply(Op op) {
        TreeMap<Long, Object> v = versions.computeIfAbsent(op.key(), k -> new TreeMap<>());
        switch (op.f()) {
            case "read" -> {
                return fault == Fault.STALE_READS ? replica(op.key()) : primary(op.key());
            }
            case "write" -> {
                v.put(tick, op.arg(0));
                return null;
            }
            default -> {
                Object seen = fault == Fault.LOST_UPDATE_CAS ? replica(op.key()) : primary(op.key());
                boolean swap = Objects.equals(seen, op.arg(0));
                if (swap) {
                    v.put(tick, op.arg(1));
                }
                return swap;
            }
        }
    }

    private Object primary(String key) {
        TreeMap<Long, Object> v = versions.get(key);
        return v == null || v.isEmpty() ? null : v.lastEntry().getValue();
    }

    private Object replica(String key) {
        TreeMap<Long, Object> v = versions.get(key);
        Map.Entry<Long, Object> e = v == null ? null : v.floorEntry(tick - lagTicks);
        return e == null ? null : e.getValue();
    }
}
