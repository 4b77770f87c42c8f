using System.Runtime.InteropServices;

namespace Perf.LoadGen.Sink;

/// <summary>perfgen sink: receive until told to stop, verify, report; and what counts as a problem at any sink.</summary>
internal static class SinkCommand
{
    internal static int Run(Invocation run, SinkSettings settings, string? json, string? html, bool quiet)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
        using var sink = new SinkJob(settings);
        report.Line("perfgen sink: listening on " + sink.LocalAddress + ", " + (sink.VerifiedBy == SinkVerify.None ? sink.VerifiedByText : "priorities verified by " + sink.VerifiedByText));
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; sink.Stop(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; sink.Stop(); });
        sink.Run();
        report.SinkSummary(sink);
        if (json is not null)
        {
            report.WriteJson(json, "sink", send: null, sink);
        }

        if (html is not null)
        {
            HtmlReport.Write(html, "perfgen sink on " + sink.LocalAddress, report.ToJson("sink", send: null, sink));
        }

        var problems = new List<string>();
        AddProblems(sink, problems);
        return problems.Count == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    /// <param name="sink">The sink that counted.</param>
    /// <param name="problems">Where each problem goes, one line each.</param>
    /// <param name="checkPriority">Whether the sink could see priorities (not across a veth, which resets them).</param>
    /// <param name="checkOrder">
    /// Whether order within a priority is the sender's to keep. Over lo a datagram is delivered inside the send call, so
    /// the order it arrives in is the order it left in. Behind a shaping qdisc on a veth it is not: the qdisc is run from
    /// whichever CPU's timer or softirq comes next, and each hands its packets to that CPU's backlog, so the kernel
    /// itself can reorder one flow (seen in the kernel lab: two 64-datagram runs swapped behind HTB).
    /// </param>
    internal static void AddProblems(SinkJob sink, List<string> problems, bool checkPriority = true, bool checkOrder = true)
    {
        if (checkPriority && sink.Mismatched > 0)
        {
            problems.Add(sink.Mismatched + " datagrams arrived with another priority than they were sent with");
        }

        if (checkPriority && sink.MissingPriority > 0)
        {
            problems.Add(sink.MissingPriority + " datagrams arrived without a priority cmsg");
        }

        if (sink.Lost > 0)
        {
            problems.Add(sink.Lost + " datagrams lost (sequence gaps)");
        }

        if (checkOrder && sink.ReorderedWithinPriority > 0)
        {
            problems.Add(sink.ReorderedWithinPriority + " datagrams arrived out of order within their priority");
        }

        if (sink.Duplicates > 0)
        {
            problems.Add(sink.Duplicates + " duplicates");
        }

        if (sink.Malformed > 0)
        {
            problems.Add(sink.Malformed + " datagrams without a perfgen header");
        }
    }
}
