/**
 * The quorum layer (docs/QUORUM.md): a replicated, linearizable key-value store on a Raft group of
 * master nodes, with Apache Ratis as the engine and its RPCs carried over the mesh's circuits.
 * Depends on the mesh below it; the node's service that plugs it in lives in dmsg-services.
 */
package dev.dmsg.quorum;
