-- limsai saved queries for LabVantage (Query maintenance page): the lab resources a scope's data
-- items name. Create each with the query id shown; param1 = sponsor id, param2 = study id or (null).
-- Adjust table and column names to your site's SDC for instruments, calibrations and reagent lots.

-- LIMSAI_INSTRUMENTS_IN_SCOPE (SDC Instrument)
SELECT i.* FROM instrument i WHERE i.instrumentid IN (
  SELECT d.instrumentid FROM sdidataitem d JOIN s_sample s ON s.s_sampleid = d.keyid1
  WHERE s.u_sponsorid = [param1] AND ([param2] = '(null)' OR s.u_studyid = [param2]));

-- LIMSAI_CALIBRATIONS_IN_SCOPE (SDC LV_Calibration)
SELECT c.* FROM u_calibration c WHERE c.instrumentid IN (
  SELECT d.instrumentid FROM sdidataitem d JOIN s_sample s ON s.s_sampleid = d.keyid1
  WHERE s.u_sponsorid = [param1] AND ([param2] = '(null)' OR s.u_studyid = [param2]));

-- LIMSAI_REAGENTLOTS_IN_SCOPE (SDC LV_ReagentLot)
SELECT r.* FROM reagentlot r WHERE r.reagentlotid IN (
  SELECT d.reagentlotid FROM sdidataitem d JOIN s_sample s ON s.s_sampleid = d.keyid1
  WHERE s.u_sponsorid = [param1] AND ([param2] = '(null)' OR s.u_studyid = [param2]));
