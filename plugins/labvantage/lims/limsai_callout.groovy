// ============================================================================================
// limsai callout: an Action Block (Groovy) step that asks the limsai service to run an AI step
// on a study, signing the request with the HMAC-SHA256 scheme the service verifies.
//
// What it does
//   Builds the JSON body {"lims", "milestone", "parameters", "record": {"id", "type"},
//   "requested_by", "step"} (keys sorted, no whitespace), signs "<unix seconds>.<body>" with
//   HMAC-SHA256 keyed by the instance secret, and POSTs it to <LIMSAI_URL>/v1/runs with the
//   headers X-Limsai-Instance: <LIMSAI_INSTANCE> and X-Limsai-Signature: t=<t>,v1=<hex>.
//   The run id the service answers is written back to the action block variable "limsaiRunId".
//
// What to configure (Action Block variables, or System Configuration properties)
//   LIMSAI_URL         base URL of the limsai callout service, e.g. https://limsai.example.com
//   LIMSAI_INSTANCE    this LIMS's caller name, as in limsai.toml [callers.<name>]
//   LIMSAI_SECRET      the caller secret (store it in a protected system property, never in the block)
//   LIMSAI_STEP        the step id to run, e.g. package.assemble
//   LIMSAI_LIMS        the LIMS instance name limsai knows this LIMS by (limsai.toml [lims.<name>])
// Inputs: studyId (the LV_Study keyid1), milestone (text), requestedBy (the current sysuserid).
// ============================================================================================
import groovy.json.JsonOutput
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

String canonicalBody(String lims, String milestone, String studyId, String requestedBy, String step) {
    def body = new TreeMap()
    body.put("lims", lims)
    body.put("milestone", milestone)
    body.put("parameters", new TreeMap())
    body.put("record", new TreeMap([id: studyId, type: "study"]))
    body.put("requested_by", requestedBy)
    body.put("step", step)
    return JsonOutput.toJson(body)
}

String signature(String secret, long timestamp, String body) {
    String signed = timestamp.toString() + "." + body
    Mac mac = Mac.getInstance("HmacSHA256")
    mac.init(new SecretKeySpec(secret.getBytes("UTF-8"), "HmacSHA256"))
    String hex = mac.doFinal(signed.getBytes("UTF-8")).encodeHex().toString()
    return "t=" + timestamp + ",v1=" + hex
}

String callLimsai(String url, String instance, String secret, String body) {
    long timestamp = (long) (System.currentTimeMillis() / 1000L)
    def connection = new URL(url + "/v1/runs").openConnection()
    connection.setRequestMethod("POST")
    connection.setDoOutput(true)
    connection.setConnectTimeout(10000)
    connection.setReadTimeout(30000)
    connection.setRequestProperty("Content-Type", "application/json")
    connection.setRequestProperty("X-Limsai-Instance", instance)
    connection.setRequestProperty("X-Limsai-Signature", signature(secret, timestamp, body))
    connection.outputStream.withWriter("UTF-8") { it << body }
    int code = connection.responseCode
    if (code >= 300) {
        throw new RuntimeException("limsai refused the run request: HTTP " + code)
    }
    return new groovy.json.JsonSlurper().parse(connection.inputStream, "UTF-8").run_id
}

String body = canonicalBody(LIMSAI_LIMS, milestone, studyId, requestedBy, LIMSAI_STEP)
limsaiRunId = callLimsai(LIMSAI_URL, LIMSAI_INSTANCE, LIMSAI_SECRET, body)
