/**
 * Services on top of links and the mesh. Today: {@link EchoService}, a debug
 * echo used by the demo, the tests and the benchmarks. Later issues add the DBG shell, VOLCONF
 * and BLK here.
 */
package dev.dmsg.services;
