// Example using fetch API
async function generateTryOn(apiKey, personImageUrl, garmentImageUrl) {
  // Create FormData
  const formData = new FormData();
  formData.append('person_images', personImageUrl);
  formData.append('garment_images', garmentImageUrl);

  // Submit job
  const response = await fetch('https://your-domain.com/api/v1/tryon', {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${apiKey}`
    },
    body: formData
  });

  if (!response.ok) {
    throw new Error(`HTTP error ${response.status}`);
  }

  const { jobId, statusUrl } = await response.json();

  // Poll for result
  let resultUrl;
  let jobStatus = 'processing';

  while (jobStatus === 'processing') {
    await new Promise(resolve => setTimeout(resolve, 2000)); // Wait 2 seconds

    const statusResponse = await fetch(`https://your-domain.com${statusUrl}`, {
      headers: {
        'Authorization': `Bearer ${apiKey}`
      }
    });

    if (!statusResponse.ok) {
      throw new Error(`Status check failed: ${statusResponse.status}`);
    }

    const statusData = await statusResponse.json();
    jobStatus = statusData.status;

    if (jobStatus === 'completed') {
      resultUrl = statusData.resultImageUrl;
      break;
    }

    if (jobStatus === 'failed' || jobStatus === 'invalid_input') {
      throw new Error(`Job failed: ${statusData.error} (${statusData.errorCode})`);
    }
  }

  return resultUrl;
}
