-- Typed readings from the newly landed rows, with the file each came from.
SELECT
    trim(meter_id)               AS meter_id,
    CAST(read_at AS TIMESTAMP)   AS read_at,
    CAST(kwh AS DOUBLE)          AS kwh,
    parse_filename(filename)     AS source_file
FROM landed_readings
