package dev.dmsg.services.blk;

import dev.dmsg.link.Transaction;
import dev.dmsg.mesh.CircuitHandle;

/**
 * One open of a remote export over one circuit (docs/BLK.md "Client and failover"): the circuit,
 * the keyid the server answered, and the BLK_OPEN transaction the open lives as long as.
 */
record RemoteSession(CircuitHandle circuit, long keyid, Transaction openTxn) {}
