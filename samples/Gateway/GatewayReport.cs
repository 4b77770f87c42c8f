using System.Text.Json;
using Perf.Batch;

namespace Perf.Gateway;

/// <summary>The --json report: counts each way, per priority outward, and drops by reason.</summary>
internal static class GatewayReport
{
    internal static void Write(Stream stream, VxlanGateway gateway, TimeSpan elapsed)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        GatewayCounters c = gateway.Counters;
        long sent = 0, failed = 0;
        foreach (PacketSender sender in gateway.Uplinks)
        {
            SenderStats s = sender.Stats;
            sent += s.Sent;
            failed += s.Failed;
        }

        w.WriteStartObject();
        w.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));
        w.WriteString("priority_strategy", gateway.Uplink.PriorityStrategy.ToString());
        w.WriteString("tap_offloads", gateway.Tap.Offloads.ToString());
        w.WriteNumber("queues", gateway.Queues);
        w.WriteNumber("source_ports", gateway.Uplinks.Count());
        w.WriteStartObject("outbound");
        w.WriteNumber("frames", c.OutFrames);
        w.WriteNumber("super_frames", c.OutSuperFrames);
        w.WriteNumber("sent", sent);
        w.WriteStartArray("per_priority");
        for (int b = 0; b < c.Priorities.Count; b++)
        {
            w.WriteStartObject();
            w.WriteString("priority", "0x" + c.Priorities[b].ToString("x", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteNumber("frames", c.OutFramesOf(b));
            w.WriteNumber("bytes", c.OutBytesOf(b));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("drops");
        w.WriteNumber("oversize", c.OutOversize);
        w.WriteNumber("malformed_offload", c.OutMalformed);
        w.WriteNumber("send_failed", failed);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject("inbound");
        w.WriteNumber("datagrams", gateway.Received);
        w.WriteNumber("frames", c.InFrames);
        w.WriteNumber("bytes", c.InBytes);
        w.WriteNumber("super_frames", c.InSuperFrames);
        w.WriteNumber("coalesced_frames", c.InCoalescedFrames);
        w.WriteBoolean("gso_writes_refused", gateway.GsoWritesRefused);
        w.WriteStartObject("drops");
        w.WriteNumber("short", c.Dropped(InboundDrop.Short));
        w.WriteNumber("malformed", c.Dropped(InboundDrop.Malformed));
        w.WriteNumber("wrong_vni", c.Dropped(InboundDrop.WrongVni));
        w.WriteNumber("foreign_source", c.Dropped(InboundDrop.ForeignSource));
        w.WriteNumber("ecn_not_ect", c.Dropped(InboundDrop.EcnNotEct));
        w.WriteNumber("tap_down", c.Dropped(InboundDrop.TapDown));
        w.WriteNumber("tap_error", c.Dropped(InboundDrop.TapError));
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
