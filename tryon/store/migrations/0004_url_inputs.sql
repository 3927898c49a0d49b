-- URL inputs are downloaded by the job, not the submit (tryon/url_inputs.py). While
-- <label>_url is set, <label>_key names where the download will be stored; a job that
-- finds the object there (a run cut short after storing it) uses it as it is.
ALTER TABLE jobs ADD COLUMN person_url TEXT;
ALTER TABLE jobs ADD COLUMN garment_url TEXT;
