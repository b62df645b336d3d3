/**
 * DMSG links over TCP with Netty: the frame codec in the pipeline, the handler that drives an
 * {@link dev.dmsg.link.Iocom}, and {@link dev.dmsg.link.netty.LinkEndpoint}, which listens and
 * connects. TLS and LNK_AUTH (a later issue) go into the pipeline in front of the codec, in
 * {@link dev.dmsg.link.netty.LinkEndpoint#initChannel}.
 */
package dev.dmsg.link.netty;
