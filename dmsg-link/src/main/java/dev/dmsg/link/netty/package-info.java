/**
 * DMSG links over TCP with Netty. The pipeline, in {@link dev.dmsg.link.netty.LinkEndpoint#initChannel}:
 * {@code SslHandler} (TLS 1.3 with pinned keys, when {@code LinkConfig.tls()} is set;
 * docs/SECURITY.md §3) → the frame codec → the handler that drives an
 * {@link dev.dmsg.link.Iocom}; and {@link dev.dmsg.link.netty.LinkEndpoint}, which listens and
 * connects.
 */
package dev.dmsg.link.netty;
