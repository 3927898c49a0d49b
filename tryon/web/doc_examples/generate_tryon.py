import time

import requests


def generate_tryon(api_key, person_image_path, garment_image_path):
    # Prepare the request
    headers = {
        'Authorization': f'Bearer {api_key}'
    }
    files = {
        'person_images': open(person_image_path, 'rb'),
        'garment_images': open(garment_image_path, 'rb')
    }

    # Submit job
    response = requests.post(
        'https://your-domain.com/api/v1/tryon',
        headers=headers,
        files=files
    )
    response.raise_for_status()
    data = response.json()
    job_id = data['jobId']
    status_url = data['statusUrl']

    # Poll for result
    job_status = 'processing'
    result_url = None
    while job_status == 'processing':
        time.sleep(2)  # Wait 2 seconds
        status_response = requests.get(
            f'https://your-domain.com{status_url}',
            headers=headers
        )
        status_response.raise_for_status()
        status_data = status_response.json()
        job_status = status_data['status']
        if job_status == 'completed':
            result_url = status_data['resultImageUrl']
            break
        if job_status in ['failed', 'invalid_input']:
            raise Exception(f"Job failed: {status_data.get('error')} ({status_data.get('errorCode')})")

    return result_url
