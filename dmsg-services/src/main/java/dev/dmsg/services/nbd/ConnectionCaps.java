package dev.dmsg.services.nbd;

import java.util.HashMap;
import java.util.Map;

/**
 * How many connections a server holds, in all and per client (a source address, or a local user
 * on a Unix socket): one more is refused at accept, before a byte is sent, so that many idle
 * connections from one client cannot keep the others out (docs/BLK.md "Limits"). Thread-safe.
 */
final class ConnectionCaps {
    private final int maxTotal;
    private final int maxPerClient;
    private final Map<Object, Integer> perClient = new HashMap<>();
    private int open;

    ConnectionCaps(int maxTotal, int maxPerClient) {
        if (maxPerClient < 1 || maxTotal < maxPerClient) {
            throw new IllegalArgumentException("connection caps: need 1 <= per client <= total, not per client "
                + maxPerClient + " and total " + maxTotal);
        }
        this.maxTotal = maxTotal;
        this.maxPerClient = maxPerClient;
    }

    /** Which cap refuses a connection. */
    enum Refusal { TOTAL, PER_CLIENT }

    /**
     * Takes a slot for a connection from {@code client}; {@code null} if admitted (then
     * {@link #release} it exactly once), else the cap that refused it.
     */
    synchronized Refusal admit(Object client) {
        if (open >= maxTotal) {
            return Refusal.TOTAL;
        }
        int n = perClient.getOrDefault(client, 0);
        if (n >= maxPerClient) {
            return Refusal.PER_CLIENT;
        }
        perClient.put(client, n + 1);
        open++;
        return null;
    }

    synchronized void release(Object client) {
        Integer n = perClient.get(client);
        if (n == null) {
            throw new IllegalStateException("connection caps: released a slot of " + client + ", which holds none");
        }
        if (n == 1) {
            perClient.remove(client);
        } else {
            perClient.put(client, n - 1);
        }
        open--;
    }

    synchronized int open() {
        return open;
    }

    synchronized int openFrom(Object client) {
        return perClient.getOrDefault(client, 0);
    }

    int maxTotal() {
        return maxTotal;
    }

    int maxPerClient() {
        return maxPerClient;
    }
}
